"""The cutover (executors/cutover.py) on a swarm host, against a real swarm
(tests/swarm_lab.py), the suite's PostgreSQL and a real nginx: Odoo 18
installs a database through the environment's door, its unit serves it
through the gateway's sockets behind nginx, a redeploy (a new unit, the
gateway switched, the old unit removed) fails none of a visitor's requests
every 50 ms, and teardown leaves nothing (no unit, network, secret, pg_hba
line or socket).

The executors get a plain spec, as a worker's would be, and a reporter
that renders the front door from what the cutover records (the ORM's part,
models/ops_environment_proxy.py, is the only thing not here)."""

import http.client
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time

import pytest
import swarm_lab as lab
from odoo.addons.ipai_ops_core.executors import cutover, network, odoo_steps, swarm_doors
from odoo.addons.ipai_ops_core.services import env_network, naming, nginx, postgres, runtime
from odoo.addons.ipai_ops_core.services.postgres import access
from odoo.addons.ipai_ops_core.tests import pg_helpers

POOL = "10.254.0.0/16"
HOSTNAME = "shop.swarm.test"
ENV_ID = 41


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Reporter:
    """The run's reporter as a worker's, minus the ORM: the front door is
    rendered from the values the cutover records."""

    def __init__(self, settings):
        self.settings, self.values, self.lines = settings, {}, []

    def log(self, level, message):
        self.lines.append("%s %s" % (level, message))

    def flush(self):
        pass

    def check_canceled(self):
        pass

    def environment_message(self, text):
        self.lines.append("chatter %s" % text)

    def update_environment(self, values):
        self.values.update(values)

    def apply_proxy(self, values=None, drain_timeout=0):
        self.values.update(values or {})
        v = self.values
        socket_path = v.get("upstream_socket")
        server = {"names": [HOSTNAME], "port": v.get("port") or 8069, "tls": {}, "socket": socket_path or None,
                  "ws_socket": socket_path and os.path.join(os.path.dirname(socket_path), "ws.sock")}
        if v.get("maintenance"):
            server.update(page="maintenance-%d.html" % ENV_ID, page_html="<h1>maintenance</h1>")
        started = time.monotonic()
        with nginx.locked(self.settings["proxy_root"]):
            from odoo.addons.ipai_ops_core.executors import proxy  # noqa: PLC0415 - beside its peers

            loaded = proxy.apply(self.settings, [server] if socket_path or v.get("maintenance") else [])
        return {"status": loaded["status"], "seconds": time.monotonic() - started}


def _get(listen, path="/web/login"):
    host, port = listen.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers={"Host": HOSTNAME})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(name="deployed", scope="module")
def deployed_fixture(swarm_lab, tmp_path_factory):
    admin = pg_helpers.admin_fixture()
    engine = swarm_lab["manager"]
    image = lab.runtime_image(swarm_lab)
    root = tmp_path_factory.mktemp("swarm-cutover")
    # nginx's workers (an unprivileged user) walk to the sockets: not under pytest's 0700 directory
    doors_root = tempfile.mkdtemp(prefix="ipai-ops-doors-")
    os.chmod(doors_root, 0o755)
    settings = {"proxy_root": str(root / "proxy"), "proxy_listen": "127.0.0.1:%d" % _free_port()}
    role = naming.env_role_name(lab.PLANE, ENV_ID)
    password = secrets.token_urlsafe(16)
    postgres.ensure_role(admin, role, password)
    for sub in ("filestore", "work", "secrets"):
        (root / sub).mkdir()
    spec = {
        "namespace": lab.PLANE, "environment_id": ENV_ID, "run_id": 1, "project_slug": "shop",
        "stage": "production", "runtime_kind": "swarm", "host": "lab", "tool_image": image,
        "db": admin, "db_role": role, "db_role_password": password, "admin_password": secrets.token_urlsafe(12),
        "filestore_root": str(root / "filestore"), "work_root": str(root / "work"),
        "secrets_root": str(root / "secrets"), "mem_limit": "1g", "nano_cpus": int(1e9),
        "runtime": {"workers": 0, "cron_threads": 0}, "health_timeout": 180,
        "network_settings": {"pool": POOL, "doors_root": doors_root},
        "public_url": "http://%s" % HOSTNAME, "current": {},
    }
    reporter = Reporter(settings)
    dbname = "%s_e%d_shop" % (lab.PLANE, ENV_ID)
    state = {"engine": engine, "spec": spec, "reporter": reporter, "settings": settings, "image": image,
             "dbname": dbname, "admin": admin, "role": role}
    try:
        yield state
    finally:
        print("\n".join(reporter.lines[-60:]))
        for ref in engine.containers(runtime.labels_for(lab.PLANE, environment=ENV_ID)):
            engine.remove_container(ref["id"])
        network.teardown(spec, engine)
        swarm_doors.gateway(spec, engine).remove()
        from odoo.addons.ipai_ops_core.services.swarm_gateway import HostRelay  # noqa: PLC0415

        HostRelay(spec["network_settings"]["doors_root"]).stop()
        nginx.stop(settings["proxy_root"])
        postgres.drop_database(admin, dbname)
        access.sync(admin, swarm_doors.section(spec), [])
        pg_helpers._admin_execute('DROP ROLE IF EXISTS "%s"' % role)
        shutil.rmtree(doors_root, ignore_errors=True)


def test_a_production_unit_serves_its_database_through_the_front_door(deployed):
    """The first deploy: Odoo installs ``base`` over the door as the
    environment's role, the unit turns healthy only once it opens that
    database, and nginx serves it through the environment's socket."""
    engine, spec, reporter, dbname = deployed["engine"], deployed["spec"], deployed["reporter"], deployed["dbname"]
    with cutover.Switch(spec, engine, reporter) as switch:
        switch.database(dbname)
        postgres.create_database(deployed["admin"], dbname, spec["db_role"])
        postgres.revoke_public_connect(deployed["admin"], dbname)
        odoo_steps.change_modules(spec, engine, deployed["image"], dbname, ["-i", "base"], reporter, "install",
                                  "Installing base failed")
        unit, url = switch.go_live(deployed["image"], dbname)
    assert url == "http://%s" % HOSTNAME
    info = engine.container(unit)
    assert info["status"] == "running" and info["name"] == odoo_steps.container_name(spec, "serve"), info
    # its configuration file is a Swarm secret (the odoo user's, 0400), its addons for environments configs
    service = engine.client.services.get(unit).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert [(s["File"]["Name"], s["File"]["UID"], s["File"]["Mode"]) for s in service["Secrets"]] == [
        ("/etc/odoo/odoo.conf", "101", 0o400)], service["Secrets"]
    assert [m["Source"] for m in service["Mounts"]] == [os.path.join(spec["filestore_root"], "shop", "env-41")]
    assert not any("password" in v.lower() for v in service.get("Env", [])), service.get("Env")
    status, body = _get(deployed["settings"]["proxy_listen"])
    assert status == 200 and b"oe_login_form" in body, (status, body[:300])
    sock = deployed["reporter"].values["upstream_socket"]
    assert sock.endswith("/e41/http.sock") and os.stat(sock).st_mode & 0o777 == 0o666
    db_sock = os.path.join(os.path.dirname(sock), "db.sock")
    assert os.stat(db_sock).st_mode & 0o777 == 0o600, "the database's socket is root's"
    # pg_hba.conf admits the role from the environment's loopback address only
    with open(access.hba_file(deployed["admin"])) as fh:
        mine = [line.split() for line in fh if spec["db_role"] in line.split()]
    assert mine == [["host", "all", spec["db_role"], "127.77.0.41/32", "scram-sha-256"]], mine
    deployed["first_unit"] = unit


def test_a_redeploy_fails_no_request(deployed):
    """A code-only redeploy: a new unit next to the old one, the gateway
    switched once it is healthy, the old unit removed, while a visitor GETs
    /web/login through nginx every 50 ms."""
    engine, spec, reporter, dbname = deployed["engine"], deployed["spec"], deployed["reporter"], deployed["dbname"]
    first = deployed.get("first_unit") or pytest.fail("the first deploy did not serve")
    spec = {key: value for key, value in spec.items() if key != "network"}  # a new run's spec
    spec.update(run_id=2, current={"container_id": first, "database_name": dbname, "db_owner": spec["db_role"]})
    results, stop = [], threading.Event()

    def visit():
        while not stop.is_set():
            try:
                results.append(_get(deployed["settings"]["proxy_listen"])[0])
            except OSError as exc:
                results.append(str(exc))
            time.sleep(0.05)

    visitor = threading.Thread(target=visit)
    visitor.start()
    try:
        with cutover.Switch(spec, engine, reporter) as switch:
            unit, _url = switch.go_live(deployed["image"], dbname, retire_database=False)
        time.sleep(1)  # the visitor goes on a moment on the new unit
    finally:
        stop.set()
        visitor.join()
    failed = [r for r in results if r != 200]
    assert len(results) > 20 and not failed, (len(results), failed[:5])
    assert engine.container(first) is None, "the old unit is gone"
    assert engine.container(unit)["status"] == "running"
    assert postgres.database_exists(deployed["admin"], dbname)


def test_teardown_leaves_nothing(deployed):
    engine, spec = deployed["engine"], deployed["spec"]
    for ref in engine.containers(runtime.labels_for(lab.PLANE, environment=ENV_ID)):
        engine.remove_container(ref["id"])
    reporter = deployed["reporter"]
    reporter.lines.clear()
    removed = network.teardown(dict(spec), engine, reporter)
    assert not reporter.lines, reporter.lines
    assert removed == [env_network.network_name(lab.PLANE, ENV_ID, env_network.PRODUCTION)], removed
    assert not [s for s in engine.client.secrets.list() if s.name.startswith("ipai-ops-%s-" % lab.PLANE)]
    doors = os.path.join(spec["network_settings"]["doors_root"], "e41")
    assert not [name for name in os.listdir(doors) if name.endswith(".sock")], os.listdir(doors)
    with open(access.hba_file(deployed["admin"])) as fh:
        assert spec["db_role"] not in fh.read(), "its pg_hba line went with its network"

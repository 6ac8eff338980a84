"""Network isolation, from the attacker's seat: code running inside real
containers of a development, a staging and a production environment of
one project (and a second project's production), on their real networks,
as the environment's own user and as root. Each reaches its own database,
its own front door name, the mail catcher (development and staging) and
allow-listed hosts through the egress proxy (development and staging) or
the internet (production), and nothing else: not the control plane, not
its database with any credential, not another environment's database or
Odoo, not the Docker API, not a listener on the host.

"Outside" is a network namespace this module makes (a veth pair, two
addresses, an HTTP listener): no traffic leaves the machine.
"""

import os
import socket
import subprocess
import threading
import time

import psutil
import pytest
from conftest import _free_port
from e2e import (
    Poller,
    admin_sql,
    docker_ready,
    env_config,
    make_addon_repo,
    remove_leftovers,
    run_worker,
    shell,
)
from hostnet import host_network_binds
from probes import net_probe

SLUG = "net-e2e"
NETNS = "ipaiops-e2e"
VETH_HOST, VETH_NS = "ipe2e-h", "ipe2e-n"
HOST_SIDE, ALLOWED, OTHER = "10.214.99.1", "10.214.99.2", "10.214.99.3"
OUTSIDE_PORT = 8000
FIELDS = ["stage", "container_id", "container_ip", "network_name", "network_subnet", "database_name", "hostname",
          "db_role", "internal_url", "url"]
BLOCKED = ("timeout", "ConnectionRefusedError", "OSError", "TimeoutError")


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture(scope="module")
def outside():
    """Two hosts "outside" (addresses of a network namespace reached over a
    veth pair, with an HTTP server on both): one allow-listed, one not."""
    _ip("netns", "del", NETNS, check=False)
    _ip("link", "del", VETH_HOST, check=False)
    try:
        _ip("netns", "add", NETNS)
        _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        _ip("link", "set", VETH_NS, "netns", NETNS)
        _ip("addr", "add", HOST_SIDE + "/29", "dev", VETH_HOST)
        _ip("link", "set", VETH_HOST, "up")
        for address in (ALLOWED, OTHER):
            _ip("-n", NETNS, "addr", "add", address + "/29", "dev", VETH_NS)
        _ip("-n", NETNS, "link", "set", VETH_NS, "up")
        _ip("-n", NETNS, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        pytest.fail("network namespaces are needed for the egress tests: %s" % (exc.stderr or exc))
    server = subprocess.Popen(["ip", "netns", "exec", NETNS, "python3", "-m", "http.server", "--bind", "0.0.0.0",
                               str(OUTSIDE_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd="/tmp")
    deadline = time.monotonic() + 20
    while _ip("netns", "exec", NETNS, "python3", "-c",
              "import socket; socket.create_connection(('%s', %d), 2)" % (ALLOWED, OUTSIDE_PORT),
              check=False).returncode != 0:
        assert time.monotonic() < deadline, "the outside HTTP server did not start"
        time.sleep(0.2)
    yield
    server.terminate()
    server.wait(timeout=10)
    _ip("netns", "del", NETNS, check=False)
    _ip("link", "del", VETH_HOST, check=False)


@pytest.fixture(scope="module")
def net(server, tmp_path_factory, catcher, outside, prod):
    """Project net-e2e: production (main), staging (release/net, a copy of
    production) and development (feature/ok), each on its own network."""
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    repo = make_addon_repo(tmp_path_factory.mktemp("netgit"), branches=("feature/ok", "release/net"),
                           red_branch=None)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {
        "name": "Network E2E", "slug": SLUG, "repo_url": repo, "mem_limit_mb": 1024,
        "member_ids": [(0, 0, {"user_id": server.uids["e2e_admin"], "role": "admin"}),
                       (0, 0, {"user_id": server.uids["e2e_dev"], "role": "developer"})]})
    runs = [manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "branch": "main"})]
    run_worker(server, projects=SLUG)
    runs += [manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": branch})
             for branch in ("release/net", "feature/ok")]
    run_worker(server, projects=SLUG)
    envs = {}
    for queued in runs:
        run = manager("ops.run", "api_read", [queued["id"]])
        assert run["state"] == "succeeded", run["error_message"]
        env = manager("ops.environment", "read", [queued["environment_id"]], FIELDS)[0]
        env["config"] = env_config(env["id"], server)
        envs[env["stage"]] = env
    other = manager("ops.environment", "read", [prod["id"]], FIELDS)[0]
    other["config"] = env_config(prod["id"], server)
    yield {"project_id": project_id, "envs": envs, "other": other}
    remove_leftovers(SLUG)


def gateway(env):
    return env["network_subnet"].rsplit(".", 1)[0] + "." + str(int(env["network_subnet"].split("/")[0]
                                                                    .rsplit(".", 1)[1]) + 1)


class Listener:
    """A TCP listener of the test on the host (``address``: the loopback or every address)."""

    def __init__(self, address):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
                conn.close()
            except OSError:
                return

    def close(self):
        self.sock.close()


def host_addresses():
    return sorted({addr.address for addrs in psutil.net_if_addrs().values() for addr in addrs
                   if addr.family == socket.AF_INET and not addr.address.startswith("127.")})


def test_each_environment_reaches_its_own_and_nothing_else(server, net, catcher):
    envs, other = net["envs"], net["other"]
    assert {env["network_name"] for env in envs.values()} | {other["network_name"]} \
        and len({env["network_subnet"] for env in [*envs.values(), other]}) == 4, "one network each"
    for env in envs.values():
        info = __import__("docker").from_env().containers.get(env["container_id"]).attrs
        assert info["HostConfig"]["NetworkMode"] == env["network_name"], "never the host's network"
        assert list(info["NetworkSettings"]["Networks"]) == [env["network_name"]]
        assert not info["HostConfig"].get("PortBindings"), "no port of the host"
    assert envs["development"]["network_name"].endswith("_i") and envs["staging"]["network_name"].endswith("_i")
    assert envs["production"]["network_name"].endswith("_p")

    loopback, anywhere = Listener("127.0.0.1"), Listener("0.0.0.0")
    try:
        # The listeners answer on the host itself: what follows is the network's doing.
        socket.create_connection(("127.0.0.1", anywhere.port), 2).close()
        cp_port = int(server.url.rpartition(":")[2])
        front_port = int(server.proxy_addr.rpartition(":")[2])
        admin = {"user": os.environ["OPS_DB_USER"], "password": os.environ["OPS_DB_PASSWORD"]}
        for stage, env in envs.items():
            gw, others = gateway(env), [e for s, e in envs.items() if s != stage] + [other]
            db = {"host": gw, "port": int(os.environ["OPS_DB_PORT"])}
            isolated = stage != "production"
            checks = [
                # reachable
                {"id": "own database", "pg": dict(db, dbname=env["database_name"], own=True), "expect": "CONNECTED"},
                {"id": "own front door", "http": "http://%s:%d/web/login" % (gw, front_port),
                 "headers": {"Host": env["hostname"]}, "expect": 200},
                {"id": "mail catcher", "tcp": [gw, catcher], "expect": "open" if isolated else BLOCKED},
                # unreachable
                {"id": "control plane over XML-RPC", "http": "http://%s:%d/xmlrpc/2/db" % (gw, cp_port),
                 "expect": BLOCKED + ("URLError",)},
                {"id": "docker socket", "path": "/var/run/docker.sock", "expect": "absent"},
                {"id": "docker tcp", "tcp": [gw, 2375], "expect": BLOCKED},
                {"id": "host loopback listener", "tcp": [gw, loopback.port], "expect": BLOCKED},
                {"id": "control plane db as itself", "pg": dict(db, dbname=server.db, own=True),
                 "expect": "pg_hba.conf"},
                {"id": "control plane db as the platform", "pg": dict(db, dbname=server.db, **admin),
                 "expect": "pg_hba.conf"},
                {"id": "control plane db as postgres", "pg": dict(db, dbname=server.db, user="postgres",
                                                                    password="postgres"),
                 "expect": "pg_hba.conf"},
                *({"id": "control plane port on %s" % address, "tcp": [address, cp_port], "expect": BLOCKED}
                  for address in host_addresses()),
                *({"id": "host listener on %s" % address, "tcp": [address, anywhere.port], "expect": BLOCKED}
                  for address in host_addresses()),
            ]
            for o in others:
                checks += [
                    {"id": "odoo of %s" % o["hostname"], "tcp": [o["container_ip"], 8069], "expect": BLOCKED},
                    {"id": "db of %s as itself" % o["hostname"], "pg": dict(db, dbname=o["database_name"], own=True),
                     "expect": "permission denied"},
                    {"id": "db of %s as its role" % o["hostname"],
                     "pg": dict(db, dbname=o["database_name"], user=o["config"]["db_user"],
                                password=o["config"]["db_password"]), "expect": "pg_hba.conf"},
                ]
            if isolated:
                checks.append({"id": "mail catcher login", "smtp": [gw, catcher], "expect": "AUTH OK"})
            for user in (None, "0"):
                probe = net_probe(env["container_id"], [{k: v for k, v in c.items() if k != "expect"}
                                                        for c in checks], user=user)
                who = "%s as %s" % (stage, "root" if user else "odoo")
                assert probe["uid"] == (0 if user else 101), who
                assert probe["own_db_host"] == gw, "its database at its network's gateway"
                for check in checks:
                    value, expect = probe["results"][check["id"]], check["expect"]
                    if isinstance(expect, tuple):
                        ok = value in expect
                    elif isinstance(expect, str) and expect not in ("open", "absent", "CONNECTED", "AUTH OK"):
                        ok = expect in str(value)
                    else:
                        ok = value == expect
                    assert ok, "%s: %s gave %r, expected %r (control plane port %d; all: %s)" % (
                        who, check["id"], value, expect, cp_port, probe["results"])
    finally:
        loopback.close()
        anywhere.close()


def test_a_port_bound_in_a_container_is_not_the_hosts(net):
    """Code may listen on any port inside its network namespace: the host's
    ports (which the platform hands out to its own services) stay free."""
    import docker

    port = _free_port()
    container = docker.from_env().containers.get(net["envs"]["development"]["container_id"])
    container.exec_run(["python3", "-c", "import socket,time; s=socket.socket(); s.bind(('0.0.0.0', %d)); "
                        "s.listen(); time.sleep(30)" % port], detach=True)
    time.sleep(1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), 2)
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))  # still free on the host
    listener.close()


def test_egress_allow_list_per_stage(server, net):
    """Development and staging have no route off the host; the project's
    allow-list opens exactly the listed host, through the egress proxy, at
    once (no rebuild); production reaches the outside directly."""
    envs = net["envs"]
    direct = [{"id": "allowed direct", "http": "http://%s:%d/" % (ALLOWED, OUTSIDE_PORT)},
              {"id": "other direct", "http": "http://%s:%d/" % (OTHER, OUTSIDE_PORT)}]
    got = net_probe(envs["production"]["container_id"], direct)["results"]
    assert got == {"allowed direct": 200, "other direct": 200}, got

    def via_proxy(env):
        proxy = "http://%s:%d" % (gateway(env), server.egress_port)
        return net_probe(env["container_id"], direct + [
            {"id": "allowed via proxy", "http": "http://%s:%d/" % (ALLOWED, OUTSIDE_PORT), "proxy": proxy},
            {"id": "other via proxy", "http": "http://%s:%d/" % (OTHER, OUTSIDE_PORT), "proxy": proxy},
            {"id": "control plane via proxy", "http": server.url + "/xmlrpc/2/db", "proxy": proxy},
            {"id": "own db port via proxy", "http": "http://%s:%s/" % (gateway(env), os.environ["OPS_DB_PORT"]),
             "proxy": proxy},
        ])["results"]

    for stage in ("development", "staging"):
        got = via_proxy(envs[stage])
        assert got["allowed direct"] not in (200,) and got["other direct"] != 200, (stage, got)
        assert got["allowed via proxy"] == 403 and got["other via proxy"] == 403, (stage, got)
        # The host itself is never reached through the proxy, whatever is asked.
        assert got["control plane via proxy"] == 403 and got["own db port via proxy"] == 403, (stage, got)

    server.rpc("e2e_admin")("ops.project", "write", [net["project_id"]],
                            {"egress_allowlist": "# the payment provider's sandbox\n%s\n" % ALLOWED})
    deadline = time.monotonic() + 20
    while via_proxy(envs["development"])["allowed via proxy"] != 200:
        assert time.monotonic() < deadline, "the allow-list did not reach the egress proxy within 20 s"
        time.sleep(0.5)
    for stage in ("development", "staging"):
        got = via_proxy(envs[stage])
        assert got["allowed via proxy"] == 200 and got["other via proxy"] == 403, (stage, got)
        assert got["allowed direct"] != 200 and got["control plane via proxy"] == 403, (stage, got)

    # A developer may not open the wall; bad entries are refused with a clear error.
    import xmlrpc.client

    with pytest.raises(xmlrpc.client.Fault, match="settings"):
        server.rpc("e2e_dev")("ops.project", "write", [net["project_id"]], {"egress_allowlist": "0.0.0.0/0"})
    for bad, reason in (("127.0.0.1", "not an address"), ("localhost", "the host itself"),
                        ("https://x.example.com/", "Invalid hostname")):
        with pytest.raises(xmlrpc.client.Fault, match=reason):
            server.rpc("e2e_admin")("ops.project", "write", [net["project_id"]], {"egress_allowlist": bad})


def test_environments_on_the_hosts_network_move_without_a_failed_request(server, net, tmp_path):
    """An environment made before environments had networks (its container
    on the host's network, on a port of the loopback) moves to its own
    network when the module is updated (the same method queues a
    ``recreate``): the URL answers throughout, not one request fails."""
    import docker

    client = docker.from_env()
    env = net["envs"]["production"]
    current = client.containers.get(env["container_id"])
    port = _free_port()
    # The container as the platform made it before: host network, the loopback, a port of the host.
    legacy = client.containers.run(
        current.attrs["Image"], ["-d", env["database_name"], "--db-filter", "^%s$" % env["database_name"],
                                 "--http-interface", "127.0.0.1", "--http-port", str(port), "--proxy-mode",
                                 "--workers", "0", "--max-cron-threads", "0", "--gevent-port", "0"],
        detach=True, network_mode="host", volumes=host_network_binds(current, str(tmp_path / "legacy")),
        labels=current.labels, name="net-e2e-legacy-%d" % port, restart_policy={"Name": "unless-stopped"})
    url = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 120
    while True:
        try:
            if __import__("requests").get(url + "/web/login", timeout=5).status_code == 200:
                break
        except Exception:  # noqa: BLE001 - starting
            pass
        assert time.monotonic() < deadline, legacy.logs()[-2000:]
        time.sleep(0.5)
    shell(server, 'e = env["ops.environment"].browse(%d)\n'
                  'e.sudo().write({"container_id": %r, "container_ip": False, "internal_url": %r, "port": %d, '
                  '"gevent_port": 0})\nenv.cr.commit()\ne._ops_proxy_reload()\n' % (env["id"], legacy.id, url, port))
    current.remove(force=True)
    manager = server.rpc("e2e_manager")
    with Poller(env["url"], interval=0.05) as poller:
        time.sleep(1)
        out = shell(server, 'print("QUEUED", [r["id"] for r in env["ops.environment"]._ops_move_off_host_network()])\n'
                            'env.cr.commit()\n')
        run_ids = eval(out.split("QUEUED", 1)[1].strip().splitlines()[0])  # noqa: S307 - our own print
        run_worker(server, projects=SLUG)
        time.sleep(1)
    assert len(run_ids) == 1
    run = manager("ops.run", "api_read", [run_ids[0]])
    assert run["state"] == "succeeded" and run["kind"] == "recreate", run["error_message"]
    assert len(poller.answers) > 50 and not poller.failures(), poller.failures()[:5]
    moved = manager("ops.environment", "read", [env["id"]], FIELDS)[0]
    assert moved["container_ip"] and moved["internal_url"].startswith("http://%s:" % moved["container_ip"])
    assert client.containers.get(moved["container_id"]).attrs["HostConfig"]["NetworkMode"] == env["network_name"]
    assert not client.containers.list(all=True, filters={"id": legacy.id}), "the host-network container is gone"
    assert admin_sql("SELECT 1 FROM pg_database WHERE datname = '%s'" % env["database_name"]), "same database"
    net["envs"]["production"].update(moved)


def test_the_walls_come_back_after_a_reboot(server, net):
    """A reboot empties the host's firewall and stops the egress proxy: the
    reconciliation cron (every minute) sets both again from what exists."""
    from e2e import namespace

    plane = namespace(server)
    egress_pid = os.path.join(server.proxy_root.rpartition("/")[0], "egress", "run", "squid.pid")
    subprocess.run(["iptables", "-F", "IPAI-OPS-%s-i" % plane], check=True)
    subprocess.run(["squid", "-f", os.path.join(os.path.dirname(os.path.dirname(egress_pid)), "squid.conf"), "-k",
                    "shutdown"], check=True, capture_output=True)
    deadline = time.monotonic() + 20
    while os.path.exists(egress_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    dev = net["envs"]["development"]
    got = net_probe(dev["container_id"], [{"id": "db", "tcp": [gateway(dev), int(os.environ["OPS_DB_PORT"])]}])
    assert got["results"]["db"] in BLOCKED, "the rules are gone: nothing passes (refused, never open)"
    out = shell(server, 'print("RECONCILED", env["ops.environment"]._cron_reconcile()["network"])\nenv.cr.commit()\n')
    assert "firewall set" in out, out
    got = net_probe(dev["container_id"], [
        {"id": "db", "pg": {"host": gateway(dev), "port": int(os.environ["OPS_DB_PORT"]),
                            "dbname": dev["database_name"], "own": True}},
        {"id": "allowed via proxy", "http": "http://%s:%d/" % (ALLOWED, OUTSIDE_PORT),
         "proxy": "http://%s:%d" % (gateway(dev), server.egress_port)}])["results"]
    assert got == {"db": "CONNECTED", "allowed via proxy": 200}, got


def test_destroy_takes_the_network_and_its_rules(server, net):
    """Destroying an environment removes its network, its pg_hba line and its
    egress rules with its containers."""
    import docker

    dev = net["envs"]["development"]
    role = dev["config"]["db_user"]
    manager = server.rpc("e2e_manager")
    manager("ops.environment", "action_destroy", [dev["id"]])
    run_worker(server, projects=SLUG)
    assert manager("ops.environment", "read", [dev["id"]], ["state"])[0]["state"] == "destroyed"
    assert not docker.from_env().networks.list(names=[dev["network_name"]])
    with open(_hba_path()) as fh:
        assert role not in fh.read(), "its pg_hba line went with it"
    egress_env = os.path.join(server.proxy_root.rpartition("/")[0], "egress", "envs", "env-%d.conf" % dev["id"])
    assert not os.path.exists(egress_env)
    staging = net["envs"]["staging"]
    with open(_hba_path()) as fh:
        assert staging["config"]["db_user"] in fh.read(), "the others' lines stay"


def _hba_path():
    return admin_sql("SHOW hba_file")[0][0]

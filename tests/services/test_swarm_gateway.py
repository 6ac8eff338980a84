"""services/swarm_gateway.py against a real swarm (tests/swarm_lab.py):
the host reaches each environment's unit by its name through the
environment's sockets only, an environment on an internal overlay reaches
the host-side services it was given (its database) through its door and
nothing else, never another environment's door, and a unit replaced under
the same name is found again."""

import secrets
import socket
import socketserver
import threading
import time

import pytest
import swarm_lab as lab
from odoo.addons.ipai_ops_core.services import env_network, postgres, runtime, swarm_gateway
from odoo.addons.ipai_ops_core.services.postgres import access
from odoo.addons.ipai_ops_core.tests.pg_helpers import pg_fixtures

admin_fixture, names_fixture = pg_fixtures()

POOL = "10.254.0.0/16"
PAGE = ["sh", "-c", "echo $0 > /www/index.html; exec httpd -f -p 8069 -h /www"]
HEALTH = {"test": ["CMD", "sh", "-c", "timeout 2 wget -qO- http://127.0.0.1:8069/ >/dev/null"], "interval": 1}


def _get(path):
    """GET / over a unix socket: the body, or the error."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b"GET / HTTP/1.0\r\nHost: door\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[-1].decode().strip()


class _HostService(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """What answers on the host's side of a door (a database server, in life): says whose it is."""

    daemon_threads = True

    def __init__(self, path, says):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.says = says.encode()

        class Handler(socketserver.BaseRequestHandler):
            def handle(handler):  # noqa: N805 - the server is self
                handler.request.recv(4096)
                handler.request.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + self.says)

        super().__init__(str(path), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _run(engine, network, script):
    code, tail = engine.run_to_completion(lab.PROBE_IMAGE, ["sh", "-c", script], "gwp-%s" % secrets.token_hex(3),
                                          runtime.labels_for(lab.PLANE, environment="probe"), network=network,
                                          timeout=60)
    return code, "\n".join(tail)


@pytest.fixture(name="doors", scope="module")
def doors_fixture(swarm_lab, tmp_path_factory):
    """Two environments' networks and units and the gateway, once for the
    module (the tests run in the file's order: the database test replaces
    the stand-in host services with the host's relay)."""
    engine = swarm_lab["manager"]
    gateway = swarm_gateway.Gateway(engine, lab.PLANE, lab.runtime_image(swarm_lab),
                                    tmp_path_factory.mktemp("gateway") / "doors")
    nets, units, hosts = {}, [], []
    for env_id, says in ((31, "A"), (32, "B")):
        net = env_network.ensure(engine, lab.PLANE, env_network.ISOLATED, env_id, "p", pool=POOL)
        nets[env_id] = net
        units.append("gw-unit-%d" % env_id)
        engine.start(lab.PROBE_IMAGE, [*PAGE, "page " + says], units[-1],
                     runtime.labels_for(lab.PLANE, environment=env_id), network=net["name"], healthcheck=HEALTH)
        hosts.append(_HostService(gateway.socket("e%d" % env_id, "db"), "database of %s" % says))
    yield engine, gateway, nets, hosts
    for host in hosts:
        host.shutdown()
        host.server_close()
    for unit in units + ["gw-next-%d" % n for n in (1, 2, 3)]:
        engine.remove_container(unit)
    gateway.remove()
    for net in nets.values():
        engine.remove_network(net["name"])


def test_each_environment_has_its_own_doors_and_nothing_else(doors):
    engine, gateway, nets, _hosts = doors
    paths = {env_id: gateway.open("e%d" % env_id, net, "gw-unit-%d" % env_id, {"db": 5432})
             for env_id, net in nets.items()}
    door_a, door_b = (swarm_gateway.door_address(nets[i]) for i in (31, 32))
    assert door_a == env_network.address(nets[31]["subnet"], 2)
    # the front door's side: each environment's unit by its name, through its own socket
    assert _get(paths[31]["http"]) == "page A"
    assert _get(paths[32]["http"]) == "page B"
    # the environment's side: its own database through its door, and nothing more
    code, out = _run(engine, nets[31]["name"], (
        f"timeout 5 wget -qO- http://{door_a}:5432/; echo; "
        f"for port in 8069 8072 22 3128 5433; do timeout 3 wget -qO- http://{door_a}:$port/ >/dev/null 2>&1 "
        "&& echo open $port || echo closed $port; done; "
        f"timeout 3 wget -qO- http://{door_b}:5432/ || echo other-door-unreachable"))
    assert "database of A" in out and "database of B" not in out, out
    assert all("closed %d" % port in out for port in (8069, 8072, 22, 3128, 5433)), out
    assert "other-door-unreachable" in out, out
    code, out = _run(engine, nets[32]["name"], "timeout 5 wget -qO- http://%s:5432/; echo" % door_b)
    assert code == 0 and "database of B" in out, out
    # a unit replaced under the same name (a switch) is found again through the same socket
    engine.remove_container("gw-unit-31")
    engine.start(lab.PROBE_IMAGE, [*PAGE, "page A2"], "gw-unit-31",
                 runtime.labels_for(lab.PLANE, environment=31), network=nets[31]["name"], healthcheck=HEALTH)
    # (its name enters Docker's DNS once it is healthy, a moment after Swarm says it runs)
    deadline, seen = time.monotonic() + 10, None
    while seen != "page A2" and time.monotonic() < deadline:
        try:
            seen = _get(paths[31]["http"])
        except OSError as exc:
            seen = repr(exc)
        time.sleep(0.1)
    assert seen == "page A2"
    # closed: its sockets go, the gateway leaves its network, the other one still answers
    gateway.close("e31", nets[31]["name"])
    assert not paths[31]["http"].exists()
    assert nets[31]["name"] not in engine.container(swarm_gateway.container_name(lab.PLANE))["networks"]
    assert _get(paths[32]["http"]) == "page B"


def test_a_switch_fails_no_request(doors):
    """Three switches from one unit to the next while a visitor asks every
    20 ms through the environment's socket: every request is answered, by
    the old unit until the switch returns and by the new one after it."""
    engine, gateway, nets, _hosts = doors
    paths = gateway.open("e32", nets[32], "gw-unit-32")
    answers, failures, stop = [], [], threading.Event()

    def visit():
        while not stop.is_set():
            try:
                answers.append(_get(paths["http"]))
            except OSError as exc:
                failures.append(repr(exc))
            stop.wait(0.02)

    visitor = threading.Thread(target=visit, daemon=True)
    visitor.start()
    try:
        previous = "gw-unit-32"
        for n in (1, 2, 3):
            unit = "gw-next-%d" % n
            engine.start(lab.PROBE_IMAGE, [*PAGE, "page v%d" % n], unit,
                         runtime.labels_for(lab.PLANE, environment=32), network=nets[32]["name"], healthcheck=HEALTH)
            gateway.switch("e32", unit)
            count = len(answers)
            stop.wait(0.5)
            assert set(answers[count + 1:]) == {"page v%d" % n}, answers[count:]
            engine.remove_container(previous)
            previous = unit
    finally:
        stop.set()
        visitor.join(5)
    assert not failures, failures[:5]
    assert len(answers) > 50 and {"page B", "page v1", "page v2", "page v3"} <= set(answers)
    with pytest.raises(runtime.RuntimeFailure, match="Environment e99 has no doors to switch"):
        gateway.switch("e99", "gw-next-3")
    engine.remove_container("gw-next-3")


def test_a_bad_key_is_refused(swarm_lab, tmp_path):
    gateway = swarm_gateway.Gateway(swarm_lab["manager"], lab.PLANE, lab.RUNTIME_IMAGE, tmp_path / "doors")
    net = {"name": "n", "subnet": "10.254.0.0/28"}
    for key in ("../etc", "e1/..", "", "e 1", "..", None):
        with pytest.raises(runtime.RuntimeFailure, match="Invalid gateway key"):
            gateway.open(key, net, "unit")
    for unit in ("a b", "-x", "x;rm", "", "u/../v"):
        with pytest.raises(runtime.RuntimeFailure, match="Invalid unit name"):
            gateway.open("e1", net, unit)
        with pytest.raises(runtime.RuntimeFailure, match="Invalid unit name"):
            gateway.switch("e1", unit)
    with pytest.raises(runtime.RuntimeFailure, match="Invalid door name"):
        gateway.open("e1", net, "unit", {"../db": 5432})
    with pytest.raises(runtime.RuntimeFailure, match="Invalid door name"):
        swarm_gateway.HostRelay(tmp_path / "doors").route("e1", "db/x", "127.0.0.1", 5432, "127.77.0.1")
    assert not (tmp_path / "doors").exists()


CONNECT = """
import sys, psycopg2
host, role, password, dbname = sys.argv[1:5]
try:
    conn = psycopg2.connect(host=host, port=5432, user=role, password=password, dbname=dbname, connect_timeout=10)
    cr = conn.cursor()
    cr.execute("SELECT current_user, current_database(), host(inet_client_addr())")
    print("connected %s %s from %s" % cr.fetchone())
except psycopg2.Error as exc:
    print("refused: %s" % str(exc).strip().splitlines()[0])
"""


def test_an_environment_reaches_its_own_database_as_its_own_role_only(doors, admin, names):
    """Through its door and the host's relay, from its own loopback address:
    pg_hba.conf admits its role from there, and no other role."""
    engine, gateway, nets, hosts = doors
    for host in hosts:  # the host's relay answers these sockets now
        host.shutdown()
        host.server_close()
    relay = swarm_gateway.HostRelay(gateway.root)
    creds = {}
    for env_id in nets:
        role, dbname, password = names("r%d" % env_id), names("d%d" % env_id), secrets.token_urlsafe(12)
        postgres.ensure_role(admin, role, password)
        postgres.create_database(admin, dbname, role)
        postgres.revoke_public_connect(admin, dbname)
        creds[env_id] = (role, password, dbname)
    entries = [(creds[i][0], "%s/32" % swarm_gateway.source_address(i)) for i in nets]
    assert access.sync(admin, lab.PLANE, entries)["status"] in ("reloaded", "unchanged")
    try:
        relay.route("e31", "db", admin["host"], admin["port"], swarm_gateway.source_address(31))
        gateway.open("e31", nets[31], "gw-unit-31", {"db": 5432})
        door_a = swarm_gateway.door_address(nets[31])

        def connect(role, password, dbname):
            code, tail = engine.run_to_completion(
                lab.RUNTIME_IMAGE, ["-c", CONNECT, door_a, role, password, dbname], "gwdb-%s" % secrets.token_hex(3),
                runtime.labels_for(lab.PLANE, environment="probe"), network=nets[31]["name"], entrypoint=["python3"],
                timeout=120)
            return "\n".join(tail)

        out = connect(*creds[31])
        assert "connected %s %s from 127.77.0.31" % (creds[31][0], creds[31][2]) in out, out
        # another environment's role, even with its password, is not admitted from this door
        out = connect(*creds[32])
        assert 'refused: connection to server at "%s", port 5432 failed: FATAL:  no pg_hba.conf entry for host ' \
               '"127.77.0.31", user "%s"' % (door_a, creds[32][0]) in out, out
        # nor is the platform's own administrator
        out = connect(admin["user"], admin["password"], "postgres")
        assert "refused:" in out and "no pg_hba.conf entry" in out, out
    finally:
        relay.stop()
        access.sync(admin, lab.PLANE, [])

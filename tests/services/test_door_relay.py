"""services/door_relay.py as a real process (the host's relay,
swarm_gateway.HostRelay), real sockets and real HTTP servers: after a
switch, the requests the relay still has at the old target are counted
until they end, and a drain (what a cutover does before the old unit and
its database go) returns once they are answered."""

import http.server
import socket
import threading
import time

import pytest
from odoo.addons.ipai_ops_core.services import ports, swarm_gateway


class _Slow(http.server.BaseHTTPRequestHandler):
    """GET /slow answers after the server's delay, anything else at once; the body names the server."""

    def do_GET(self):  # noqa: N802 - the standard library's name
        server = self.server
        if self.path == "/slow":
            server.started.set()
            time.sleep(server.delay)
        body = server.label.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            return  # its visitor gave up (a test's teardown)
        if self.path == "/slow":
            server.answered.set()

    def log_message(self, *_args):
        pass


def _server(label, delay):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ports.free_port()), _Slow)
    server.label, server.delay = label, delay
    server.started, server.answered = threading.Event(), threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _get(sock_path, path="/"):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(str(sock_path))
        sock.sendall(b"GET %s HTTP/1.0\r\nHost: door\r\n\r\n" % path.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[-1].decode()


@pytest.fixture
def relay(tmp_path):
    relay = swarm_gateway.HostRelay(tmp_path / "doors")
    servers = {"old": _server("old unit", 2.0), "new": _server("new unit", 0)}
    yield relay, servers
    relay.stop()
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _route(relay, server):
    return relay.route("e1", "http", "127.0.0.1", server.server_address[1], "127.77.0.1")


def _target(server):
    return "tcp:127.0.0.1:%d" % server.server_address[1]


def test_a_drain_waits_for_the_requests_the_old_target_still_answers(relay):
    relay, servers = relay
    sock = _route(relay, servers["old"])
    answers = []
    held = threading.Thread(target=lambda: answers.append(_get(sock, "/slow")), daemon=True)
    held.start()
    assert servers["old"].started.wait(10), "the request did not reach the old target"
    _route(relay, servers["new"])  # the switch: the same socket, the next connections to the new target
    assert _get(sock) == "new unit"
    started = time.monotonic()
    left = swarm_gateway.drain_routes(relay.path, "unix:%s" % sock, _target(servers["new"]), timeout=15)
    waited = time.monotonic() - started
    assert left == 0
    assert servers["old"].answered.is_set(), "the drain returned before the old target answered"
    assert waited > 0.5, "it returned at once (%.2fs) with a request still held" % waited
    held.join(10)
    assert answers == ["old unit"], "the request held across the switch was answered by its own target"
    # nothing held any more: at once
    started = time.monotonic()
    assert swarm_gateway.drain_routes(relay.path, "unix:%s" % sock, _target(servers["new"]), timeout=15) == 0
    assert time.monotonic() - started < 1


def test_a_drain_gives_up_after_its_timeout_and_says_how_many_are_left(relay):
    relay, servers = relay
    sock = _route(relay, servers["old"])
    threading.Thread(target=_get, args=(sock, "/slow"), daemon=True).start()
    assert servers["old"].started.wait(10)
    _route(relay, servers["new"])
    started = time.monotonic()
    left = swarm_gateway.drain_routes(relay.path, "unix:%s" % sock, _target(servers["new"]), timeout=0.5)
    assert left == 1 and time.monotonic() - started < 1.5, left
    assert not servers["old"].answered.is_set()


def test_a_relay_that_does_not_report_is_not_waited_for(tmp_path):
    """A relay started before it counted connections (a gateway of an
    earlier version still running) writes no counts: the drain says it
    cannot tell, at once, instead of waiting out its timeout."""
    path = tmp_path / "routes.json"
    path.write_text('{"routes": []}')
    (tmp_path / "routes.json.applied").write_text("1")
    started = time.monotonic()
    assert swarm_gateway.drain_routes(path, "unix:/doors/e1/http.sock", "tcp:u:8069", timeout=10) is None
    assert time.monotonic() - started < 1

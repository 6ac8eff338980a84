"""The relay that holds requests during a switch (services/hold_relay.py),
with real sockets: requests sent while nothing answers wait and get their
answer from the server released to; a relay closed without a target closes
what it held, so the front door answers instead of waiting forever."""

import http.server
import threading
import time

import pytest
import requests
from odoo.addons.ipai_ops_core.services.hold_relay import HoldRelay


@pytest.fixture
def backend():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            body = ("served %s" % self.path).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address
    server.shutdown()


def _get_in_background(url, results, **kwargs):
    def get():
        started = time.monotonic()
        try:
            results.append((requests.request(kwargs.pop("method", "GET"), url, timeout=30, **kwargs),
                            time.monotonic() - started))
        except requests.RequestException as exc:
            results.append((exc, time.monotonic() - started))

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    return thread


def test_held_requests_are_answered_by_the_released_server(backend):
    with HoldRelay() as relay:
        results = []
        threads = [_get_in_background("http://127.0.0.1:%d/page-%d" % (relay.port, i), results) for i in range(5)]
        threads.append(_get_in_background("http://127.0.0.1:%d/form" % relay.port, results, method="POST",
                                          data=b"x" * 200_000))
        time.sleep(1.0)  # nothing answers yet: every request waits
        assert results == [] and relay.held == 6
        relay.release(*backend)
        for thread in threads:
            thread.join(timeout=30)
        bodies = sorted(answer.content for answer, _took in results)
        assert [answer.status_code for answer, _took in results] == [200] * 6
        assert bodies == sorted([b"served /page-%d" % i for i in range(5)] + [b"x" * 200_000])
        assert min(took for _answer, took in results) >= 1.0, "they waited for the release"
        # Once released, new connections go straight through.
        answer = requests.get("http://127.0.0.1:%d/after" % relay.port, timeout=10)
        assert answer.text == "served /after" and relay.piped == 7


def test_a_relay_closed_without_a_target_lets_go_of_what_it_held(backend):
    relay = HoldRelay()
    results = []
    thread = _get_in_background("http://127.0.0.1:%d/" % relay.port, results)
    time.sleep(0.5)
    relay.close()
    thread.join(timeout=10)
    assert isinstance(results[0][0], requests.ConnectionError), results
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:%d/" % relay.port, timeout=5)


def test_a_target_that_refuses_closes_the_connection():
    with HoldRelay() as relay:
        dead = HoldRelay()
        port = dead.port
        dead.close()  # nothing listens there any more
        relay.release("127.0.0.1", port)
        with pytest.raises(requests.ConnectionError):
            requests.get("http://127.0.0.1:%d/" % relay.port, timeout=5)
        assert relay.refused == 1

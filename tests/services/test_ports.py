"""services/ports.py: a listener's port is never one an outgoing connection can take meanwhile."""

import socket

from odoo.addons.ipai_ops_core.services import ports


def test_a_port_is_free_and_below_the_ephemeral_range():
    low, high = ports.ephemeral_range()
    assert 1024 < low < high
    picked = {ports.free_port() for _ in range(20)}
    assert len(picked) == 20, "one process never gets the same port twice"
    for port in picked:
        assert port < low
        with socket.socket() as sock:
            sock.bind(("0.0.0.0", port))  # free on every address, not only the loopback


def test_a_port_something_listens_on_is_skipped(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with socket.socket() as other:
            other.bind(("0.0.0.0", ports.free_port()))
            other.listen()
            wildcard_busy = other.getsockname()[1]
            offers = iter([busy, wildcard_busy, busy, 23456, 23457])
            monkeypatch.setattr(ports.random, "randrange", lambda *a: next(offers))
            monkeypatch.setattr(ports, "_GIVEN", set())
            port = ports.free_port()
    assert port not in (busy, wildcard_busy)
    assert port in (23456, 23457)

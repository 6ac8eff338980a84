"""A free loopback port for a listener the platform starts itself (a side PostgreSQL, a relay).

Binding port 0 returns a port of the kernel's ephemeral range, the one outgoing connections
take their local port from: between the check and the listener's own bind, a connection to
Docker or to an Odoo can take it, and the listener then fails with EADDRINUSE. The port is
therefore taken below that range, where only listeners bind."""

import random
import socket

RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
FLOOR = 20000
_GIVEN = set()  # this process's picks: two listeners started one after the other never get the same


def ephemeral_range():
    try:
        with open(RANGE_FILE) as handle:
            low, high = (int(part) for part in handle.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _bindable(port, host):
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host="127.0.0.1", tries=200):
    """A port nothing listens on, outside the ephemeral range (the kernel's pick when none is)."""
    low = ephemeral_range()[0]
    floor = FLOOR if low > FLOOR + 1000 else 1024
    for _ in range(tries):
        port = random.randrange(floor, low)
        if port not in _GIVEN and _bindable(port, host) and (host == "0.0.0.0" or _bindable(port, "0.0.0.0")):
            _GIVEN.add(port)
            return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]

"""Waiting for an Odoo to answer over HTTP: an environment's container on
its own network (a private address of this host's bridges), or the
loopback; never a public address."""

import http.client
import ipaddress
import socket
import time
from urllib.parse import urlparse

import requests

ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")


def allowed(host):
    """The loopback, or a private IPv4 address (an environment's network)."""
    if host in ALLOWED_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return address.version == 4 and address.is_private and not address.is_link_local


PROBE_LOGIN = "__ipai_ops_health_probe__"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def unix_status(socket_path, path, timeout=5):
    """The HTTP status of GET ``path`` through the Unix socket
    ``socket_path`` (a swarm unit's, as nginx reaches it). Raises OSError or
    http.client.HTTPException when nothing answers."""
    conn = _UnixConnection(socket_path, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def serves_database(url, database, timeout=10):
    """Whether the Odoo answering at ``url`` opens ``database``: a login
    attempt with a login nobody has is refused (False) by a server that can
    open the database, and fails with an error on a server that cannot (the
    server of another environment, whose database role has no CONNECT on
    this one). Cheap: no password is hashed for an unknown login."""
    payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
        "service": "common", "method": "authenticate", "args": [database, PROBE_LOGIN, "-", {}]}}
    try:
        answer = requests.post(url + "/jsonrpc", json=payload, timeout=timeout).json()
    except (requests.RequestException, ValueError):
        return False
    return "error" not in answer and answer.get("result") is False


def wait_until_healthy(url, path="/web/health", timeout=180, interval=1.0, expect=200, is_alive=None,
                       database=None):
    """Poll ``url + path`` until it answers ``expect``; return seconds waited.

    ``is_alive`` (optional callable) lets the caller stop early when the
    container died. With ``database``, the server that answers must also
    open that database (see serves_database): another environment's server
    on the same port is not a healthy one. Raises TimeoutError with the last
    answer seen.
    """
    host = urlparse(url).hostname
    if not allowed(host):
        raise ValueError("health checks only talk to the environments' networks and the loopback, not %r" % host)
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        if is_alive is not None and not is_alive():
            raise TimeoutError("the container stopped before %s%s answered (last: %s)" % (url, path, last))
        try:
            response = requests.get(url + path, timeout=5, allow_redirects=False)
            if response.status_code == expect:
                if database is None or serves_database(url, database):
                    return time.monotonic() - start
                last = "HTTP %d from a server that does not open %s (another environment's?)" % (
                    response.status_code, database)
            else:
                last = "HTTP %d" % response.status_code
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(interval)
    raise TimeoutError("%s%s did not answer %d within %ds (last: %s)" % (url, path, expect, timeout, last))

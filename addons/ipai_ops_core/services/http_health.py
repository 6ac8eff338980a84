"""Waiting for an Odoo to answer over HTTP (loopback only)."""

import time
from urllib.parse import urlparse

import requests

ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")


def wait_until_healthy(url, path="/web/health", timeout=180, interval=1.0, expect=200, is_alive=None):
    """Poll ``url + path`` until it answers ``expect``; return seconds waited.

    ``is_alive`` (optional callable) lets the caller stop early when the
    container died. Raises TimeoutError with the last answer seen.
    """
    host = urlparse(url).hostname
    if host not in ALLOWED_HOSTS:
        raise ValueError("health checks only talk to the loopback, not %r" % host)
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        if is_alive is not None and not is_alive():
            raise TimeoutError("the container stopped before %s%s answered (last: %s)" % (url, path, last))
        try:
            response = requests.get(url + path, timeout=5, allow_redirects=False)
            if response.status_code == expect:
                return time.monotonic() - start
            last = "HTTP %d" % response.status_code
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(interval)
    raise TimeoutError("%s%s did not answer %d within %ds (last: %s)" % (url, path, expect, timeout, last))

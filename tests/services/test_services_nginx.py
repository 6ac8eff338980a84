"""services/nginx.py against a real nginx: rendered configurations are
checked before they are loaded, a refused one never is, switches reload."""

import http.server
import os
import shutil
import socket
import ssl
import tempfile
import threading

import pytest
import requests
from odoo.addons.ipai_ops_core.executors import proxy as proxy_executor
from odoo.addons.ipai_ops_core.services import nginx, nginx_config, ports, tls
from odoo.addons.ipai_ops_core.tests.tls_helpers import ThrowawayCA


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = ("%s %s %s" % (self.server.server_port, self.headers["Host"], self.headers["X-Forwarded-Host"])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstreams():
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [s.server_port for s in servers]
    for server in servers:
        server.shutdown()


@pytest.fixture
def proxy():
    # nginx's workers run as an unprivileged user: the prefix must be
    # traversable (pytest's own temporary directories are not).
    base = tempfile.mkdtemp(prefix="ipai-ops-nginx-")
    os.chmod(base, 0o755)
    root = os.path.join(base, "proxy")
    listen = "127.0.0.1:%d" % ports.free_port()
    nginx.ensure(root)
    nginx.apply(root, listen=listen, text=nginx_config.render(listen, []))
    nginx.start(root, listen)
    yield root, listen
    nginx.stop(root)
    shutil.rmtree(base, ignore_errors=True)


def get(listen, host, path="/"):
    return requests.get("http://%s%s" % (listen, path), headers={"Host": host}, timeout=10, allow_redirects=False)


def test_hostnames_route_to_their_environment_and_a_switch_reloads(proxy, upstreams):
    root, listen = proxy
    servers = [{"names": ["main.shop.ops.test", "shop.example.com"], "port": upstreams[0]}]
    assert nginx.apply(root, listen=listen, text=nginx_config.render(listen, servers))["status"] == "reloaded"
    answer = get(listen, "shop.example.com")
    assert answer.status_code == 200 and answer.text == "%d shop.example.com shop.example.com" % upstreams[0]
    assert get(listen, "unknown.ops.test").status_code == 404, "an unknown hostname reaches nothing"
    # The switch to the new container's port.
    nginx.apply(root, listen=listen, text=nginx_config.render(listen, [dict(servers[0], port=upstreams[1])]))
    assert get(listen, "main.shop.ops.test").text.startswith("%d " % upstreams[1])


def test_a_refused_configuration_is_never_loaded(proxy, upstreams):
    root, listen = proxy
    good = nginx_config.render(listen, [{"names": ["a.ops.test"], "port": upstreams[0]}])
    nginx.apply(root, listen=listen, text=good)
    with pytest.raises(nginx.NginxError, match="previous one keeps serving"):
        nginx.apply(root, listen=listen,
                    text=good + "server { listen %s; this_directive_does_not_exist on; }\n" % listen)
    with open("%s/sites/%s" % (root, nginx.SITE)) as fh:
        assert fh.read() == good
    assert get(listen, "a.ops.test").status_code == 200


def test_maintenance_page_answers_503_with_retry_after(proxy, upstreams):
    root, listen = proxy
    with open("%s/pages/maintenance-7.html" % root, "w") as fh:
        fh.write("<h1>Shop is being updated</h1>")
    nginx.apply(root, listen=listen, text=nginx_config.render(listen, [{"names": ["m.ops.test"], "port": upstreams[0],
                                             "page": "maintenance-7.html"}]))
    answer = get(listen, "m.ops.test", "/web/login")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert "Shop is being updated" in answer.text


def test_hostile_names_are_refused_before_any_file_is_written(tmp_path):
    for bad in ("shop.example.com;", "a b", "../x", "http://x.com", "x.com/path", "x.com:80", "",
                "-x.com", "x" * 64 + ".com", "SHOP.com", "x.com\nserver"):
        with pytest.raises(ValueError):
            nginx_config.render("127.0.0.1:8080", [{"names": [bad], "port": 1}])
    assert nginx_config.validate_hostname("*.ops.example.com", wildcard=True)
    with pytest.raises(ValueError):
        nginx_config.validate_hostname("*.ops.example.com")
    for bad in ("127.0.0.1", "localhost:80", "1.2.3.4:80; x"):
        with pytest.raises(ValueError):
            nginx_config.render(bad, [])


def https_get(port, host, cafile, path="/"):
    """GET over TLS to 127.0.0.1 with ``host`` as the server name (SNI),
    verified against ``cafile``: (status line, headers and body)."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=host) as sock:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode()


def test_names_with_a_certificate_are_served_over_https_and_redirected_to_it(proxy, upstreams, tmp_path):
    """Through executors/proxy.py: the certificate files written (root
    only), HTTPS with the right certificate by name (SNI), plain HTTP
    redirected there, a name without certificate still on HTTP, an unknown
    name refused at the handshake."""
    root, listen = proxy
    tls_port = ports.free_port()
    ca = ThrowawayCA()
    cafile = tmp_path / "ca.pem"
    cafile.write_text(ca.pem)
    chain, key = ca.issue(["*.shop.ops.test"])
    cert_id = tls.inspect(chain)["fingerprint"][:32]
    servers = [{"names": ["main.shop.ops.test", "shop.example.com"], "port": upstreams[0],
                "tls": {"main.shop.ops.test": cert_id}}]
    settings = {"proxy_root": root, "proxy_listen": listen, "proxy_listen_tls": "127.0.0.1:%d" % tls_port}
    assert proxy_executor.apply(settings, servers, {cert_id: (chain, key)})["status"] == "reloaded"
    assert os.stat(os.path.join(root, "certs", cert_id + ".key")).st_mode & 0o077 == 0, "the key is root's only"
    answer = https_get(tls_port, "main.shop.ops.test", str(cafile), "/web/login")
    assert answer.startswith("HTTP/1.1 200") and answer.endswith(
        "%d main.shop.ops.test main.shop.ops.test" % upstreams[0]), answer
    assert "Strict-Transport-Security" in answer
    redirect = get(listen, "main.shop.ops.test", "/web/login?x=1")
    assert redirect.status_code == 301 and redirect.headers["Location"] == \
        "https://main.shop.ops.test:%d/web/login?x=1" % tls_port
    assert get(listen, "shop.example.com").status_code == 200, "no certificate: still served over HTTP"
    with pytest.raises(ssl.SSLError):
        https_get(tls_port, "unknown.ops.test", str(cafile))
    # The certificate goes: its files go with it and the name is HTTP again.
    proxy_executor.apply(settings, [dict(servers[0], tls={})], {})
    assert not os.listdir(os.path.join(root, "certs"))
    assert get(listen, "main.shop.ops.test").status_code == 200


def test_the_longest_valid_names_are_served(proxy, upstreams):
    """63-character labels and names up to DNS's 253 characters: the hash
    nginx keeps them in is sized from the names (64 bytes per bucket would
    refuse anything over ~46 characters)."""
    root, listen = proxy
    label = "l" * 63
    longest = ".".join([label, label, label, "x" * 56, "test"])  # 253 characters
    hundred_twenty = "%s.%s.e2e.test" % (label, "s" * 47)
    assert (len(longest), len(hundred_twenty)) == (253, 120)
    servers = [{"names": [longest], "port": upstreams[0]}, {"names": [hundred_twenty], "port": upstreams[1]}]
    assert nginx.apply(root, listen=listen, text=nginx_config.render(listen, servers))["status"] == "reloaded"
    assert get(listen, longest).text.startswith("%d " % upstreams[0])
    assert get(listen, hundred_twenty).text.startswith("%d " % upstreams[1])
    with pytest.raises(ValueError, match="Invalid hostname"):
        nginx_config.render(listen, [{"names": [longest + "x"], "port": upstreams[0]}])

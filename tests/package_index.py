"""A stand-in for PyPI's JSON API (a remote service that cannot be relied on
here): what the upgrade scan asks about the OCA's packages (their releases
per series). Everything else the upgrade tests use is real."""

import http.server
import json
import threading
from contextlib import contextmanager

from e2e import sql


@contextmanager
def package_index(server, releases):
    """Serve ``releases`` ({package: {"releases": {version: []}}}) as
    ``/pypi/<package>/json`` and point the control plane at it."""

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            package = self.path.strip("/").split("/")[-2] if self.path.endswith("/json") else ""
            body = releases.get(package)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {"message": "Not Found"}).encode())

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/pypi" % httpd.server_address[1]
    sql(server.db, "INSERT INTO ir_config_parameter (key, value) VALUES ('ipai_ops.package_index_url', %s) "
                   "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", [url])
    try:
        yield url
    finally:
        sql(server.db, "DELETE FROM ir_config_parameter WHERE key = 'ipai_ops.package_index_url'")
        httpd.shutdown()

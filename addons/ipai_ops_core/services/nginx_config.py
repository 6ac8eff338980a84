"""The front door's configuration, rendered from plain values: one server
per environment (its names, its container's ports, the page it shows
instead when it is stopped or updated, the certificates that cover its
names). Every name is validated here again; nothing here runs nginx
(services/nginx.py does)."""

import hashlib
import ipaddress
import os
import re

GENERATION_PATH = "/__ipai_ops_generation"
_HOST_RE = re.compile(r"^(?=.{1,253}\Z)(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}"
                      r"[a-z0-9])?)*\Z")
_LISTEN_RE = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]|\*):\d{1,5}\Z")


def validate_hostname(value, wildcard=False):
    """A DNS name (lowercase letters, digits, dashes, dots), not a path, a
    port or a URL; ``*.`` in front only when ``wildcard``."""
    if not isinstance(value, str) or not _HOST_RE.match(value) or (value.startswith("*.") and not wildcard):
        raise ValueError("Invalid hostname %r: use a name such as shop.example.com (letters, digits, dashes and "
                         "dots; no scheme, port, path or wildcard)." % (value,))
    return value


def validate_listen(value):
    if not isinstance(value, str) or not _LISTEN_RE.match(value):
        raise ValueError("Invalid listen address %r: use address:port, e.g. 127.0.0.1:8080." % (value,))
    return value


_SOCKET_RE = re.compile(r"^(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+\.sock\Z")


def validate_socket(value):
    """An absolute path of a unix socket: plain names, no ``..``, nothing nginx would read otherwise."""
    if not isinstance(value, str) or not _SOCKET_RE.match(value) or "/../" in value + "/":
        raise ValueError("Invalid upstream socket %r." % (value,))
    return value


def _proxy_block(path, upstream):
    return [
        "    location %s {" % path,
        "        proxy_pass http://%s;" % upstream,
        "        proxy_http_version 1.1;",
        "        proxy_set_header Host $http_host;",
        "        proxy_set_header X-Forwarded-Host $http_host;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        "        proxy_set_header X-Real-IP $remote_addr;",
        "        proxy_set_header Upgrade $http_upgrade;",
        "        proxy_set_header Connection $connection_upgrade;",
        "        proxy_redirect off;",
        "    }",
    ]


def _cert_id(value):
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{16,64}", value):
        raise ValueError("Invalid certificate id %r." % (value,))
    return value


def _serve(server, upload_mb, timeout):
    """What a server answers with: its container, or its page (503)."""
    lines = ["    client_max_body_size %dm;" % upload_mb,
             "    proxy_read_timeout %ds;" % timeout, "    proxy_connect_timeout 10s;",
             "    proxy_send_timeout %ds;" % timeout,
             "    gzip on;", "    gzip_types text/css text/plain application/javascript application/json;"]
    if server.get("page"):
        return lines + ["    location / {", "        return 503;", "    }",
                        "    error_page 503 /__ipai_ops_maintenance.html;",
                        "    location = /__ipai_ops_maintenance.html {",
                        "        root pages;", "        internal;",
                        "        add_header Retry-After 30 always;",
                        "        try_files /%s =503;" % os.path.basename(server["page"]), "    }"]
    if server.get("socket"):
        # A unit on a swarm host: the gateway's sockets of the environment (services/swarm_gateway.py).
        http, ws = validate_socket(server["socket"]), validate_socket(server.get("ws_socket") or server["socket"])
        return (lines + _proxy_block("/websocket", "unix:%s:" % ws) + _proxy_block("/", "unix:%s:" % http))
    port, ws_port = int(server["port"]), int(server.get("ws_port") or server["port"])
    # The container's address on its own network (the loopback for an
    # environment still on the host's network, before it moved).
    address = str(ipaddress.IPv4Address(server.get("address") or "127.0.0.1"))
    return (lines + _proxy_block("/websocket", "%s:%d" % (address, ws_port))
            + _proxy_block("/", "%s:%d" % (address, port)))


# Let's Encrypt's HTTP-01 challenge (certbot --webroot -w <proxy root>/acme),
# answered on every name before anything else, redirects included.
ACME = ["    location ^~ /.well-known/acme-challenge/ {", "        root acme;", "        default_type text/plain;",
        "    }"]


def render(listen, servers, upload_mb=128, timeout=720, tls_listen=None, tls_port=443):
    """The sites file. ``servers``: [{names: [host, ...], address (the
    container's on its network), port, ws_port,
    page (a file under pages/ answered with 503 instead of the upstream:
    the maintenance or the stopped page, or None), tls ({name: certificate
    id}: the names a certificate under certs/<id>.crt and .key covers)}].

    With ``tls_listen``, a name with a certificate is served there over
    HTTPS and its plain HTTP redirects to it (``tls_port``: the port the
    redirect names); names without one are served over HTTP."""
    validate_listen(listen)
    if tls_listen:
        validate_listen(tls_listen)
    lines, every_name = [], []
    for server in servers:
        names = [validate_hostname(name, wildcard=True) for name in server["names"]]
        every_name += names
        tls = {name: _cert_id(cert) for name, cert in (server.get("tls") or {}).items()
               if name in names} if tls_listen else {}
        plain = [name for name in names if name not in tls]
        body = _serve(server, upload_mb, timeout)
        if plain:
            lines += ["server {", "    listen %s;" % listen, "    server_name %s;" % " ".join(plain)] + ACME + body
            lines.append("}")
        if tls:
            target = "https://$host%s$request_uri" % ("" if int(tls_port) == 443 else ":%d" % int(tls_port))
            lines += ["server {", "    listen %s;" % listen, "    server_name %s;" % " ".join(sorted(tls))] + ACME
            lines += ["    location / {", "        return 301 %s;" % target, "    }", "}"]
        for cert in sorted(set(tls.values())):
            covered = sorted(name for name, c in tls.items() if c == cert)
            lines += ["server {", "    listen %s ssl;" % tls_listen, "    server_name %s;" % " ".join(covered),
                      "    ssl_certificate certs/%s.crt;" % cert, "    ssl_certificate_key certs/%s.key;" % cert,
                      "    ssl_protocols TLSv1.2 TLSv1.3;", "    ssl_session_cache shared:ipai_ops_tls:10m;",
                      "    add_header Strict-Transport-Security \"max-age=31536000\" always;"] + body
            lines.append("}")
    text = "\n".join(lines)
    generation = hashlib.sha1(text.encode()).hexdigest()[:16]
    # The default server answers what nobody else does (404), and which
    # configuration is loaded: apply() waits until the new one serves. On
    # the TLS port, a name nobody serves gets no certificate at all.
    bucket, max_size = hash_sizes(every_name)
    head = ["# Rendered by ipai ops from its environments; changes here are overwritten.",
            # Sized from the names below: every valid DNS name (up to 253 characters) fits.
            "server_names_hash_bucket_size %d;" % bucket, "server_names_hash_max_size %d;" % max_size,
            "server {", "    listen %s default_server;" % listen, "    server_name _;",
            "    location = %s { return 200 \"%s\"; }" % (GENERATION_PATH, generation),
            "    location / { return 404; }", "}"]
    if tls_listen:
        head += ["server {", "    listen %s ssl default_server;" % tls_listen, "    server_name _;",
                 "    ssl_reject_handshake on;", "}"]
    return "\n".join(head + lines) + "\n"


def _power_of_two(value, least):
    size = least
    while size < value:
        size *= 2
    return size


def hash_sizes(names):
    """(server_names_hash_bucket_size, server_names_hash_max_size) that hold
    ``names``. A bucket holds one name as nginx stores it (a pointer, its
    length, the name, aligned to 8 bytes) and an end marker: the default 64
    holds names of up to about 46 characters, a 253-character name needs 512."""
    longest = max((len(name) for name in names), default=1)
    bucket = _power_of_two(((8 + 2 + longest + 7) // 8) * 8 + 8, 64)
    return bucket, _power_of_two(4 * len(names), 512)


def generation_of(text):
    match = re.search(r'location = %s \{ return 200 "([0-9a-f]+)"; \}' % re.escape(GENERATION_PATH), text)
    return match.group(1) if match else None



"""The front door's side effects: the pages written, the configuration
rendered and loaded, nginx kept running (services/nginx.py). ``settings``
are the control plane's (proxy_root, proxy_listen); ``servers`` the plain
picture the model made of its environments. Callers hold ``nginx.locked``."""

import os

from ..services import nginx, nginx_config


def apply(settings, servers, certs=None):
    """Load the configuration for ``servers`` (nginx started when it does
    not run). ``certs``: {certificate id: (PEM chain, PEM key)} the servers'
    ``tls`` names refer to, written under certs/ (root only). Returns
    {"status": "reloaded" | "started" | "unchanged", "retiring": pids};
    raises NginxError when nginx refuses it (the previous one keeps serving)."""
    root, listen = settings["proxy_root"], settings["proxy_listen"]
    tls_listen = settings.get("proxy_listen_tls") or None
    nginx.ensure(root)
    for server in servers:
        if server.get("page"):
            path = os.path.join(root, "pages", server["page"])
            with open(path, "w") as fh:
                fh.write(server.pop("page_html"))
            os.chmod(path, 0o644)
    certs = certs or {}
    certs_dir = os.path.join(root, "certs")
    for cert_id, (chain, key) in certs.items():
        for suffix, text in ((".crt", chain), (".key", key)):
            _write_private(os.path.join(certs_dir, nginx_config._cert_id(cert_id) + suffix), text)
    tls_port = settings.get("public_tls_port") or (tls_listen.rpartition(":")[2] if tls_listen else 443)
    loaded = nginx.apply(root, nginx_config.render(listen, servers, tls_listen=tls_listen, tls_port=int(tls_port)),
                         listen=listen)
    if loaded["status"] == "written":
        nginx.start(root, listen)
        loaded["status"] = "started"
    # Keys of certificates no longer in use do not stay on disk.
    for name in os.listdir(certs_dir):
        if name.rpartition(".")[0] not in certs:
            os.unlink(os.path.join(certs_dir, name))
    return loaded


def _write_private(path, text):
    """Written whole or not at all, readable by root only."""
    if os.path.exists(path):
        with open(path) as fh:
            if fh.read() == text:
                return
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)

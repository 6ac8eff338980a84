"""The front door's side effects: the pages written, the configuration
rendered and loaded, nginx kept running (services/nginx.py). ``settings``
are the control plane's (proxy_root, proxy_listen); ``servers`` the plain
picture the model made of its environments. Callers hold ``nginx.locked``."""

import os

from ..services import nginx


def apply(settings, servers):
    """Load the configuration for ``servers`` (nginx started when it does
    not run). Returns {"status": "reloaded" | "started", "retiring": pids};
    raises NginxError when nginx refuses it (the previous one keeps serving)."""
    root, listen = settings["proxy_root"], settings["proxy_listen"]
    nginx.ensure(root)
    for server in servers:
        if server.get("page"):
            path = os.path.join(root, "pages", server["page"])
            with open(path, "w") as fh:
                fh.write(server.pop("page_html"))
            os.chmod(path, 0o644)
    loaded = nginx.apply(root, nginx.render(listen, servers), listen=listen)
    if loaded["status"] == "written":
        nginx.start(root, listen)
        loaded["status"] = "started"
    return loaded

"""The managed nginx: the control plane's single front door.

One nginx instance of the platform's own (its prefix directory holds
``nginx.conf``, ``sites/``, ``pages/``, ``logs/`` and its pid file), never
the system's. The control plane renders every environment's server block
from its records (nginx_config.render) and ``apply`` swaps the file in only after
``nginx -t`` accepted it, then reloads: a configuration nginx refuses is
never loaded, and the previous one keeps serving.

Plain values in; argument lists only; every name that reaches the
configuration was validated by the caller (hostnames here again).
"""

import contextlib
import http.client
import os
import shutil
import subprocess
import time

from . import filelock
from .nginx_config import GENERATION_PATH, generation_of

NGINX = "nginx"
SITE = "ipai_ops.conf"
MAIN_CONF = """# The ipai ops front door (rendered by the platform; the sites are in sites/).
worker_processes auto;
pid nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log logs/access.log;
    sendfile on;
    server_tokens off;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    include {sites}/*.conf;
}}
"""


class NginxError(Exception):
    """nginx refused a configuration or could not be reloaded; the message says why."""


def ensure(root):
    """The prefix directory with its main configuration (made once). nginx's
    workers (an unprivileged user) read pages/; certs/ stays root's."""
    for sub, mode in (("sites", 0o755), ("pages", 0o755), ("logs", 0o755), ("acme", 0o755), ("certs", 0o700)):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        os.chmod(os.path.join(root, sub), mode)
    os.chmod(root, 0o755)
    main = os.path.join(root, "nginx.conf")
    if not os.path.exists(main):
        with open(main, "w") as fh:
            fh.write(MAIN_CONF.format(sites="sites"))
    return main


def _wait_loaded(listen, generation, timeout=10.0):
    """Until the default server answers ``generation``: the reload is done."""
    host, _sep, port = listen.rpartition(":")
    host = "127.0.0.1" if host in ("*", "0.0.0.0") else ("::1" if host == "[::]" else host.strip("[]"))
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", GENERATION_PATH, headers={"Host": "ipai-ops.invalid"})
            last = conn.getresponse().read().decode()
            conn.close()
            if last == generation:
                return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise NginxError("nginx was reloaded but the new configuration does not answer (last: %s)" % last)


def _nginx(root, *args, conf="nginx.conf"):
    # close_fds (subprocess's default): the daemon must not keep the caller's sockets.
    try:
        proc = subprocess.run([NGINX, "-p", root, "-c", conf, *args], capture_output=True, text=True, cwd=root,
                              check=False, timeout=60, close_fds=True)
    except FileNotFoundError as exc:
        raise NginxError("nginx is not installed on the control plane's host (apt-get install nginx)") from exc
    return proc.returncode, (proc.stderr or proc.stdout).strip()


def _workers(master):
    """{pid: title} of the master's worker processes."""
    workers = {}
    if not master:
        return workers
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid == master:
                with open("/proc/%s/cmdline" % pid, "rb") as fh:
                    workers[int(pid)] = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    return workers


def _wait_retired(old_workers, timeout=10.0):
    """Until every worker of the previous configuration stopped accepting
    connections (exited, or titled "is shutting down": it closed its
    listening sockets and only finishes what it holds, websockets included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        titles = [_title(pid) for pid in old_workers]
        alive = [title for title in titles if title and "shutting down" not in title]
        if not alive:
            return
        time.sleep(0.02)


def _title(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace") or "?"
    except OSError:
        return None


def running(root):
    """The pid of the platform's nginx master, or None."""
    try:
        with open(os.path.join(root, "nginx.pid")) as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def locked(root):
    """One change of the front door at a time across the control plane's
    processes: a switch renders from what is recorded and records its own
    change before the next one renders."""
    ensure(root)
    with filelock.locked(os.path.join(root, ".lock")):
        yield


def apply(root, text, listen=None):
    """Check ``text`` with ``nginx -t`` and, if nginx accepts it, make it the
    sites file and reload; with ``listen``, return only once the new
    configuration answers there. Returns {"status": "reloaded" ("written":
    nginx does not run; "unchanged": it already serves this text),
    "retiring": the previous workers' pids (see ``drain``)}; raises NginxError with nginx's own message otherwise,
    leaving the previous configuration in place and serving."""
    ensure(root)
    target = os.path.join(root, "sites", SITE)
    master = running(root)
    if master and os.path.exists(target):
        with open(target) as fh:
            if fh.read() == text:
                return {"status": "unchanged", "retiring": []}
    candidate_dir = os.path.join(root, "sites.candidate")
    shutil.rmtree(candidate_dir, ignore_errors=True)
    os.makedirs(candidate_dir)
    try:
        with open(os.path.join(candidate_dir, SITE), "w") as fh:
            fh.write(text)
        test_conf = os.path.join(root, "nginx.test.conf")
        with open(test_conf, "w") as fh:
            fh.write(MAIN_CONF.format(sites="sites.candidate").replace("pid nginx.pid;", "pid nginx.test.pid;"))
        code, output = _nginx(root, "-t", "-q", conf="nginx.test.conf")
        if code != 0:
            raise NginxError("nginx refused the new configuration (the previous one keeps serving): %s"
                             % output[-1000:])
        os.replace(os.path.join(candidate_dir, SITE), target)
    finally:
        shutil.rmtree(candidate_dir, ignore_errors=True)
    if not master:
        return {"status": "written", "retiring": []}
    before = _workers(master)
    code, output = _nginx(root, "-s", "reload")
    if code != 0:
        raise NginxError("nginx could not reload: %s" % output[-1000:])
    if listen:
        _wait_loaded(listen, generation_of(text))
        _wait_retired(before)
    return {"status": "reloaded", "retiring": sorted(before)}


def drain(retiring, timeout):
    """Until the previous workers finished the requests they held (to the
    old upstream), at most ``timeout`` seconds: then the old container can
    go. Long-lived websockets are not waited for beyond it (Odoo's client
    reconnects by itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_title(pid) for pid in retiring):
        time.sleep(0.05)


def start(root, listen=None):
    """Start the platform's nginx with the configuration in place; with
    ``listen``, return once it answers there."""
    ensure(root)
    if running(root):
        return running(root)
    code, output = _nginx(root)
    if code != 0:
        raise NginxError("nginx did not start: %s" % output[-1000:])
    if listen:
        try:
            with open(os.path.join(root, "sites", SITE)) as fh:
                generation = generation_of(fh.read())
        except FileNotFoundError:
            generation = None
        if generation:
            _wait_loaded(listen, generation)
    return running(root)


def stop(root):
    if running(root):
        _nginx(root, "-s", "quit")

"""The egress proxy: how development and staging reach allow-listed hosts.

Their networks have no route off the host (services/env_network.py): staging
holds a copy of customer data, and a development branch runs whatever was
pushed. A project lists the hosts its code may call (a payment provider's
sandbox, PyPI, an API); the platform's own Squid (Debian's ``squid``, one
instance per control plane, never the system's) forwards to exactly those,
for exactly that project's environments, and refuses everything else with
403. Containers find it through ``HTTP_PROXY`` / ``HTTPS_PROXY`` (their
network's gateway), which Python's ``requests`` and ``urllib`` honour.

Layout of the proxy's root directory: ``squid.conf`` (rendered here),
``envs/env-<id>.conf`` (one environment: its subnet, its allowed hosts),
``logs/`` (access.log says who asked for what), ``run/`` (pid).

Whatever an allow-list says, the proxy never connects to the host itself
(loopback, link-local, the host's own addresses) or to the environments'
pool: a name that resolves there is refused too.

Plain values in; argument lists only; every host name is validated here.
"""

import contextlib
import ipaddress
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import psutil

from . import filelock, nginx_config

SQUID = "squid"
USER = "proxy"  # Debian's squid user
DEFAULT_PORT = 3130  # Debian's own squid, when it runs, has 3128


class EgressError(Exception):
    """The proxy refused its configuration or does not run; the message says why."""


def parse_allowlist(text):
    """The entries of an allow-list (one per line, ``#`` comments): host
    names (``api.example.com``; ``.example.com`` or ``*.example.com`` with
    its subdomains), IPv4 addresses and networks. Returns (names,
    networks); raises ValueError naming the first bad line."""
    names, networks = [], []
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.split("#", 1)[0].strip().lower()
        if not line:
            continue
        try:
            net = ipaddress.ip_network(line, strict=False)
        except ValueError:
            net = None
        if net is not None:
            if net.version != 4 or net.is_loopback or net.is_link_local or net.is_unspecified or net.is_multicast \
                    or net.overlaps(ipaddress.ip_network("0.0.0.0/8")):
                raise ValueError("Allow-list line %d (%s): not an address environments may reach." % (number, line))
            if net.prefixlen < 8:
                raise ValueError("Allow-list line %d (%s): too broad to be an allow-list (at most a /8)."
                                 % (number, line))
            networks.append(str(net))
            continue
        wildcard = line.startswith(("*.", "."))
        host = line[2:] if line.startswith("*.") else line.lstrip(".")
        try:
            nginx_config.validate_hostname(host)
        except ValueError as exc:
            raise ValueError("Allow-list line %d: %s" % (number, exc)) from exc
        if host == "localhost" or host.endswith(".localhost"):
            raise ValueError("Allow-list line %d (%s): the host itself is never reachable." % (number, line))
        names.append("." + host if wildcard else host)
    return sorted(set(names)), sorted(set(networks))


def host_addresses():
    """Every address of this host (what the proxy must never connect to)."""
    found = set()
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family.name in ("AF_INET", "AF_INET6"):
                found.add(addr.address.split("%", 1)[0])
    return sorted(found)


def render_main(root, port, forbidden):
    """squid.conf of the proxy. ``forbidden``: addresses and networks never
    connected to, whatever an allow-list says."""
    port = int(port)
    if not 0 < port < 65536:
        raise ValueError("Invalid egress proxy port %r." % port)
    bad = " ".join(str(ipaddress.ip_network(item, strict=False)) for item in forbidden)
    return "\n".join([
        "# Rendered by the ipai ops control plane; changes here are overwritten.",
        "http_port 0.0.0.0:%d" % port,
        "pid_filename %s" % os.path.join(root, "run", "squid.pid"),
        "cache_effective_user %s" % USER,
        "cache deny all", "cache_mem 8 MB", "cache_store_log none", "logfile_rotate 0", "pinger_enable off",
        "access_log stdio:%s" % os.path.join(root, "logs", "access.log"),
        "cache_log %s" % os.path.join(root, "logs", "cache.log"),
        "coredump_dir %s" % os.path.join(root, "run"),
        "visible_hostname ipai-ops-egress", "forwarded_for delete", "httpd_suppress_version_string on",
        "shutdown_lifetime 1 seconds",
        "acl ipai_forbidden dst 127.0.0.0/8 0.0.0.0/8 169.254.0.0/16 ::1 fe80::/10 %s" % bad,
        "http_access deny ipai_forbidden",
        "include %s" % os.path.join(root, "envs", "*.conf"),
        "http_access deny all", "",
    ])


def render_environment(environment_id, subnet, names, networks):
    """One environment's rules: its subnet may reach ``names`` and ``networks``."""
    env_id = int(environment_id)
    src = ipaddress.ip_network(subnet, strict=True)
    acl = "ipai_e%d" % env_id
    lines = ["# Environment %d" % env_id, "acl %s src %s" % (acl, src)]
    if names:
        lines += ["acl %s_names dstdomain -n %s" % (acl, " ".join(names)),
                  "http_access allow %s %s_names" % (acl, acl)]
    if networks:
        lines += ["acl %s_nets dst %s" % (acl, " ".join(str(ipaddress.ip_network(n)) for n in networks)),
                  "http_access allow %s %s_nets" % (acl, acl)]
    return "\n".join(lines) + "\n"


def _squid(root, *args):
    try:
        proc = subprocess.run([SQUID, "-f", os.path.join(root, "squid.conf"), *args], capture_output=True,
                              text=True, timeout=60, check=False, close_fds=True, cwd=root)
    except FileNotFoundError as exc:
        raise EgressError("squid is not installed on the control plane's host (apt-get install squid)") from exc
    return proc.returncode, (proc.stderr or proc.stdout).strip()


def running(root):
    try:
        with open(os.path.join(root, "run", "squid.pid")) as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _write(path, text):
    """Write ``text`` at ``path`` when it differs; True when it changed."""
    with contextlib.suppress(FileNotFoundError), open(path) as fh:
        if fh.read() == text:
            return False
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


@contextlib.contextmanager
def _locked(root):
    """One change of the proxy at a time across the workers' processes: two runs setting up their
    environments at once each write the main file and start or reload squid only once."""
    os.makedirs(root, exist_ok=True)
    with filelock.locked(os.path.join(root, ".lock")):
        yield


def _prepare(root):
    uid = pwd.getpwnam(USER).pw_uid if shutil.which(SQUID) else os.getuid()
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    for sub, owner in (("envs", 0), ("logs", uid), ("run", uid)):
        path = os.path.join(root, sub)
        os.makedirs(path, exist_ok=True)
        os.chown(path, owner, owner)
        os.chmod(path, 0o755)
    _write(os.path.join(root, "envs", "000-none.conf"), "# One file per environment follows.\n")


def ensure(root, port, forbidden=()):
    """The proxy configured and running. Returns "started", "reloaded" or "unchanged"."""
    forbidden = sorted(set(forbidden) | set(host_addresses()))
    with _locked(root):
        _prepare(root)
        changed = _write(os.path.join(root, "squid.conf"), render_main(root, port, forbidden))
        return _apply(root, changed)


def _apply(root, changed):
    code, output = _squid(root, "-k", "parse")
    if code != 0:
        raise EgressError("squid refused its configuration: %s" % output[-1000:])
    if not running(root):
        code, output = _squid(root)
        if code != 0:
            raise EgressError("squid did not start: %s" % output[-1000:])
        _wait(lambda: running(root), "squid did not start (see %s)" % os.path.join(root, "logs", "cache.log"))
        return "started"
    if not changed:
        return "unchanged"
    code, output = _squid(root, "-k", "reconfigure")
    if code != 0:
        raise EgressError("squid could not reload: %s" % output[-1000:])
    return "reloaded"


def _wait(check, message, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise EgressError(message)


def set_environment(root, port, environment_id, subnet, allowlist_text, forbidden=()):
    """What ``environment_id`` (on ``subnet``) may reach: the entries of its
    project's allow-list (none: nothing). Reloads the proxy when it changed."""
    names, networks = parse_allowlist(allowlist_text)
    forbidden = sorted(set(forbidden) | set(host_addresses()))
    with _locked(root):
        _prepare(root)
        path = os.path.join(root, "envs", "env-%d.conf" % int(environment_id))
        changed = _write(path, render_environment(environment_id, subnet, names, networks))
        changed |= _write(os.path.join(root, "squid.conf"), render_main(root, port, forbidden))
        return _apply(root, changed)


def remove_environment(root, environment_id):
    path = os.path.join(root, "envs", "env-%d.conf" % int(environment_id))
    if not os.path.exists(path):
        return "unchanged"
    with _locked(root):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return _apply(root, True) if running(root) else "unchanged"


def stop(root):
    if running(root):
        _squid(root, "-k", "shutdown")

"""The swarm's gateway: how the control plane's host and the environments'
overlay networks reach each other, and nothing else.

An overlay network lives on the swarm's nodes, not on any host interface:
the front door (the host's nginx) cannot reach a service on it, and an
environment on an ``internal`` overlay has no way out at all, not even to
the database server. The gateway is one plain container of the platform on
the manager's node, attached to each environment's overlay at that
network's door address (``.2``, env_network's first serving slot: a swarm
unit's address is Swarm's to give, from the upper half). It runs
services/door_relay.py on routes this module writes, in a directory of the
host (``doors_root``, mounted at ``/doors``):

- ``/doors/<key>/http.sock`` and ``ws.sock``: the environment's unit by
  its name, on Odoo's HTTP and websocket ports. The host's nginx proxies
  to these sockets (``unix:`` upstreams); nothing of an environment can
  reach them, they are files of the host.
- ``tcp:<door>:PORT`` for each host-side service the environment may use
  (its database, the egress proxy): piped to ``/doors/<key>/<what>.sock``,
  which the host side answers. One environment's door address is on its
  own network only, and leads to its own sockets only.

The relay listens on nothing else: every other port of the door address is
closed. Plain values in and out; the engine through the runtime interface.

The host side (``HostRelay``) is the same relay run on the host: it
answers an environment's ``db.sock`` by connecting to the database server
*from the environment's own loopback address* (``source_address``:
127.77.x.y), so that pg_hba.conf keeps admitting each environment's role
from its own address only, as it does for the bridge networks' subnets.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

from . import env_network
from .runtime import RuntimeFailure, labels_for

DOOR_SLOT = 2
SOURCE_NET = "127.77"  # the environments' loopback addresses on the host (source_address)
RELAY = pathlib.Path(__file__).with_name("door_relay.py")
IN_CONTAINER = "/doors"


def door_address(network):
    """Where the environment on ``network`` ({subnet}) finds the gateway."""
    return env_network.address(network["subnet"], DOOR_SLOT)


def source_address(environment_id):
    """The loopback address environment ``environment_id``'s connections to
    the host's services come from (the database server admits its role
    from there only)."""
    environment_id = int(environment_id)
    if not 0 < environment_id < 65535:
        raise RuntimeFailure("No loopback address for environment %r." % environment_id)
    return "%s.%d.%d" % (SOURCE_NET, environment_id >> 8, environment_id & 0xFF)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # a unit's name in Docker's DNS
_WORD = re.compile(r"^[A-Za-z0-9_]{1,32}$")  # a key or a socket's name: one path component


def _check(value, pattern, what):
    if not isinstance(value, str) or not pattern.match(value) or value in (".", ".."):
        raise RuntimeFailure("Invalid %s %r." % (what, value))
    return value


def _write_routes(path, change, timeout, relay_alive):
    """Change the routes file and wait until the relay has it in force
    (door_relay's ``.applied``); a failure names what the relay said.

    Runs on one swarm host change it at once: ``change(routes)`` returns the
    new routes, made under the file's lock on what the others wrote, and
    each version gets a modification time later than the one before (the
    relay's version stamp). A version in force at least as new as this
    one's holds this change."""
    path.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        routes = change(_read_routes(path))
        try:
            last = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            last = 0
        stamp = max(time.time_ns(), last + 1)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"routes": sorted(routes, key=lambda r: (r["key"], r["listen"]))}, indent=1))
        os.utime(tmp, ns=(stamp, stamp))
        os.replace(tmp, path)
    applied = pathlib.Path("%s.applied" % path)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(FileNotFoundError, ValueError):  # not before the relay's first look
            if int(applied.read_text().strip()) >= stamp:
                return
        if time.monotonic() > deadline or not relay_alive():
            raise RuntimeFailure("The door relay did not take the new routes within %ds." % timeout)
        time.sleep(0.05)


def drain_routes(path, listen, keep, timeout):
    """Until the connections the relay of routes file ``path`` holds on
    ``listen`` to any target but ``keep`` have ended (those it accepted
    before a switch: requests the old unit still answers), at most
    ``timeout`` seconds. Returns how many are still open; None when the
    relay does not report them (one started before it did)."""
    applied, held = pathlib.Path("%s.applied" % path), pathlib.Path("%s.open" % path)
    deadline = time.monotonic() + timeout
    while True:
        try:
            in_force = int(applied.read_text().strip())
            state = json.loads(held.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if state.get("applied", 0) >= in_force:
            open_ = sum(count for target, count in (state.get("open") or {}).get(listen, {}).items()
                        if target != keep)
            if not open_ or time.monotonic() > deadline:
                return open_
        elif time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def _read_routes(path):
    try:
        return json.loads(path.read_text()).get("routes") or []
    except FileNotFoundError:
        return []


def container_name(plane):
    return "ops_%s_gateway" % plane


class Gateway:
    """The gateway of control plane ``plane`` on a swarm manager ``engine``,
    in ``image`` (any image with python3: the runtime image)."""

    def __init__(self, engine, plane, image, doors_root):
        self.engine, self.plane, self.image = engine, plane, image
        self.root = pathlib.Path(doors_root)
        self.name = container_name(plane)

    # the routes file ---------------------------------------------------
    def _routes_path(self):
        return self.root / "routes.json"

    def _routes(self):
        return _read_routes(self._routes_path())

    def _write(self, change, timeout=30):
        def alive():
            info = self.engine.container(self.name)
            return bool(info and info["status"] == "running")

        try:
            _write_routes(self._routes_path(), change, timeout, alive)
        except RuntimeFailure as exc:
            raise RuntimeFailure("%s It says: %s" % (exc, " / ".join(self.engine.logs(self.name, tail=3)))) from exc

    def socket(self, key, what):
        """The host's path of environment ``key``'s socket ``what`` (http, ws, db, egress ...)."""
        return self.root / key / ("%s.sock" % what)

    # the container -----------------------------------------------------
    def _ensure_container(self, first_network, ip):
        info = self.engine.container(self.name)
        if info and info["status"] == "running":
            return info
        self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        with open(self.root / "gateway.lock", "a") as lock:  # one gateway, whatever the runs that ask at once
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._make_container(first_network, ip)

    def _make_container(self, first_network, ip):
        info = self.engine.container(self.name)
        if info and info["status"] == "running":
            return info
        if info:
            self.engine.remove_container(self.name, expect_labels=labels_for(self.plane, role="gateway"))
        self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        self.engine.start_local(
            self.image, ["/gateway/relay.py", "%s/routes.json" % IN_CONTAINER], self.name,
            labels_for(self.plane, role="gateway"), network=first_network, ip=ip, entrypoint=["python3"],
            # root in the container: it makes the sockets in the host's root-owned directory; it runs
            # the platform's relay only, never an environment's code
            user="0", volumes={str(RELAY): {"bind": "/gateway/relay.py", "mode": "ro"},
                               str(self.root): {"bind": IN_CONTAINER, "mode": "rw"}},
            restart_policy={"Name": "unless-stopped"}, mem_limit="128m")
        return self.engine.container(self.name)

    def open(self, key, network, unit=None, host_services=None, timeout=30):
        """Route environment ``key`` (a directory name: ``e<id>``): attach
        the gateway to ``network`` (env_network's description) at its door,
        each of ``host_services`` ({what: port}) from the door's port to the
        host's socket ``what`` and, with ``unit``, its HTTP and websocket
        sockets to that unit's name (else those it has stay). Returns
        {what: host path of its socket}."""
        _check(key, _WORD, "gateway key")
        if unit is not None:
            _check(unit, _NAME, "unit name")
        for what in host_services or {}:
            _check(what, _WORD, "door name")
        door = door_address(network)
        info = self._ensure_container(network["name"], door)
        if network["name"] not in (info or {}).get("networks", {}):
            self.engine.connect_network(self.name, network["name"], ip=door)
        (self.root / key).mkdir(mode=0o711, exist_ok=True)

        def change(current):
            kept = [r for r in current if r["key"] == key and r.get("public")]
            mine = self._front_routes(key, unit) if unit is not None else kept
            mine += [{"key": key, "listen": "tcp:%s:%d" % (door, int(port)),
                      "to": "unix:%s/%s/%s.sock" % (IN_CONTAINER, key, what)}
                     for what, port in sorted((host_services or {}).items())]
            return [r for r in current if r["key"] != key] + mine

        self._write(change, timeout=timeout)
        return {what: self.socket(key, what) for what in ("http", "ws", *(host_services or {}))}

    @staticmethod
    def _front_routes(key, unit):
        """The host's sockets ``http`` and ``ws`` of ``key`` to ``unit`` (public: nginx's workers connect)."""
        return [{"key": key, "listen": "unix:%s/%s/%s.sock" % (IN_CONTAINER, key, what),
                 "to": "tcp:%s:%d" % (unit, port), "public": True}
                for what, port in (("http", env_network.HTTP_PORT), ("ws", env_network.GEVENT_PORT))]

    def serve(self, key, unit, timeout=30):
        """Environment ``key``'s sockets lead to ``unit`` from now on: the
        same listeners, a new target once it answers from the gateway
        (connections already open finish where they are), or new listeners
        the first time. Returns once the relay has it in force."""
        _check(key, _WORD, "gateway key")
        _check(unit, _NAME, "unit name")
        fronts = {r["listen"]: r for r in self._front_routes(key, unit)}

        def change(routes):
            if not any(r["key"] == key for r in routes):
                raise RuntimeFailure("Environment %s has no doors: open them first." % key)
            return [r for r in routes if r["listen"] not in fronts] + list(fronts.values())

        self._write(change, timeout=timeout)

    def drain(self, key, unit, timeout):
        """After a switch to ``unit``: until the requests environment
        ``key``'s HTTP socket still has at other units are answered, at most
        ``timeout`` seconds (``drain_routes``). Websockets are not waited
        for: Odoo's client opens a new one by itself."""
        listen = "unix:%s/%s/http.sock" % (IN_CONTAINER, key)
        return drain_routes(self._routes_path(), listen, "tcp:%s:%d" % (unit, env_network.HTTP_PORT), timeout)

    def switch(self, key, unit, timeout=30):
        """``serve`` for an environment that is served already."""
        _check(unit, _NAME, "unit name")
        if not any(r["key"] == key and r.get("public") for r in self._routes()):
            raise RuntimeFailure("Environment %s has no doors to switch." % key)
        self.serve(key, unit, timeout=timeout)

    def close(self, key, *network_names):
        """Environment ``key``'s routes go (the routes file written once), and the gateway leaves its networks."""
        if self.engine.container(self.name):
            self._write(lambda routes: [r for r in routes if r["key"] != key])
        for network_name in network_names:
            if network_name:
                self.engine.disconnect_network(self.name, network_name)
        for path in (self.root / key).glob("*.sock") if (self.root / key).is_dir() else ():
            path.unlink(missing_ok=True)

    def remove(self):
        """The gateway container and its routes (the last environment left)."""
        self.engine.remove_container(self.name, expect_labels=labels_for(self.plane, role="gateway"))
        self._routes_path().unlink(missing_ok=True)


class HostRelay:
    """The host's side of the doors: ``<doors_root>/<key>/<what>.sock`` to a
    TCP service of the host, from the environment's loopback address. One
    process (services/door_relay.py) for the whole host, started when
    missing; it reads ``host-routes.json`` again when it changes."""

    def __init__(self, doors_root):
        self.root = pathlib.Path(doors_root)
        self.path = self.root / "host-routes.json"
        self.pidfile = self.root / "host-relay.pid"

    def _routes(self):
        return _read_routes(self.path)

    def _write(self, change, timeout=10):
        self.ensure_running()
        _write_routes(self.path, change, timeout, lambda: bool(self._pid()))

    def route(self, key, what, host, port, source, timeout=10):
        """``<key>/<what>.sock`` to ``host:port`` from ``source``; waits until it listens."""
        _check(key, _WORD, "gateway key")
        _check(what, _WORD, "door name")
        sock = self.root / key / ("%s.sock" % what)
        sock.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
        listen = "unix:%s" % sock
        route = {"key": key, "listen": listen, "to": "tcp:%s:%d" % (host, int(port)), "source": source}
        self._write(lambda routes: [r for r in routes if r["listen"] != listen] + [route], timeout=timeout)
        return sock

    def close(self, key):
        self._write(lambda routes: [r for r in routes if r["key"] != key])

    def _pid(self):
        """The relay's pid while it runs (a dead one not yet reaped counts as dead)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            state = pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return None if state in ("Z", "X") else pid

    def ensure_running(self):
        """Start the host relay unless it runs (one, whatever the runs that ask at once); its pid."""
        pid = self._pid()
        if pid:
            return pid
        self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        with open(self.root / "host-relay.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            pid = self._pid()
            if pid:
                return pid
            log = open(self.root / "host-relay.log", "ab")  # noqa: SIM115 - the process keeps it
            with log:
                proc = subprocess.Popen([sys.executable, str(RELAY), str(self.path)], stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, start_new_session=True, close_fds=True)
            self.pidfile.write_text(str(proc.pid))
            return proc.pid

    def stop(self):
        pid = self._pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self.pidfile.unlink(missing_ok=True)

"""The swarm gateway's relay: a program of its own (the standard library
only), run as ``python3 door_relay.py ROUTES`` in the gateway container and
on the control plane's host (services/swarm_gateway.py).

``ROUTES`` is a JSON file ``{"routes": [{"listen": L, "to": T}, ...]}``
where ``L`` and ``T`` are ``unix:/path`` or ``tcp:HOST:PORT`` (and
``"source": ADDRESS``, the address a ``tcp`` target sees connections come
from). Each
connection accepted on ``L`` is piped to ``T``; a ``tcp`` target's name is
resolved for each connection (Docker's DNS: after a switch, the name is
the new unit's). The file is read again when it changes: listeners that
left it close (their open connections finish), new ones open, and a
listener whose target changed keeps listening and sends the next
connections to the new target once a connection to it opens from here (no
moment without a listener, no visitor sent to a name Docker's DNS does not
know yet: what a switch needs to fail no request). Once a version of the file is in force,
its modification time is written to ``<ROUTES>.applied``, and beforehand
the connections open per listener and target to ``<ROUTES>.open`` (kept up
to date: after a switch, the old target's count falls to zero as the
requests it held end; swarm_gateway.drain waits for it). A route that
cannot listen is reported on stdout and tried again at the next look
(an address the container is not attached to yet).
Unix sockets are root's (mode 0600) unless the route says ``"public":
true``: those (an environment's HTTP and websocket sockets) are made 0666
for the front door's workers (nginx's user); they lead to what the front
door serves to anyone anyway, and the directory (root's, 0711) lists none
of them.
"""

import asyncio
import contextlib
import json
import logging
import os
import sys

_logger = logging.getLogger("door_relay")

CHECK_EVERY = 0.2  # seconds between looks at the routes file


def _endpoint(text):
    kind, _, rest = str(text).partition(":")
    if kind == "unix" and rest.startswith("/"):
        return ("unix", rest)
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return ("tcp", host, int(port))
    raise ValueError("not unix:/path or tcp:host:port: %r" % (text,))


async def _pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError) as exc:
        _logger.debug("connection ended: %s", exc)  # the other side went away: closing is all there is to do
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _open(route):
    """A connection to the route's target (from its source address, for TCP)."""
    target, source = route["to"], route["source"]
    if target[0] == "unix":
        return asyncio.open_unix_connection(target[1])
    return asyncio.open_connection(target[1], target[2], local_addr=(source, 0) if source else None)


OPEN = {}  # {(listen, target): connections open}, both as the routes file spells them


def _handler(route):
    """Connections to ``route["to"]`` as it is when each one comes in: a
    switch changes the target of a listener in place, never the listener."""

    async def handle(client_reader, client_writer):
        target = route["to"]
        held = (route["listen"], ":".join(map(str, target)))
        OPEN[held] = OPEN.get(held, 0) + 1  # counted from here: a drain never misses one being opened
        try:
            try:
                reader, writer = await _open(route)
            except OSError as exc:
                _logger.warning("%s unreachable: %s", held[1], exc)
                client_writer.close()
                return
            await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))
        finally:
            OPEN[held] -= 1
            if not OPEN[held]:
                del OPEN[held]

    return handle


async def _listen(listen, route, public=False):
    handle = _handler(route)
    if listen[0] == "unix":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(listen[1])
        server = await asyncio.start_unix_server(handle, listen[1])
        os.chmod(listen[1], 0o666 if public else 0o600)  # noqa: S103 - see the module
        return server
    return await asyncio.start_server(handle, listen[1], listen[2], reuse_address=True)


async def _reachable(route, timeout=2):
    """Raise OSError unless the route's target answers (a connection
    opens, or is refused by the address its name resolves to): a unit's
    name enters Docker's DNS a moment after Swarm calls it running, and a
    switch before that would send visitors nowhere."""
    target = route["to"]
    try:
        _reader, writer = await asyncio.wait_for(_open(route), timeout)
    except ConnectionRefusedError:
        return  # its name resolves and its address answers: a port it does not serve (no websocket port)
    except asyncio.TimeoutError as exc:
        raise OSError("%s does not answer" % ":".join(map(str, target))) from exc
    writer.close()


def _read(path):
    """{listen: (to, source, public)} of the routes file."""
    with open(path, encoding="utf-8") as handle:
        routes = json.load(handle).get("routes") or []
    return {r["listen"]: (r["to"], r.get("source"), bool(r.get("public"))) for r in routes}


def _replace(path, text):
    tmp = "%s.tmp" % path
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _applied(path, stamp):
    """Say which version of the routes file is in force (``<ROUTES>.applied``):
    a switch waits for it."""
    _replace("%s.applied" % path, str(stamp))


def _held(path, stamp):
    """Say which connections are open under version ``stamp`` (``<ROUTES>.open``):
    {"applied": stamp, "open": {listen: {target: count}}}."""
    held = {}
    for (listen, target), count in OPEN.items():
        held.setdefault(listen, {})[target] = count
    _replace("%s.open" % path, json.dumps({"applied": stamp, "open": held}))


async def _apply(wanted, servers, routes):
    """Bring the listeners to ``wanted``; what could not be done yet."""
    for listen in set(servers) - set(wanted):
        servers.pop(listen).close()
        routes.pop(listen, None)
    failed = []
    for listen, (to, source, public) in sorted(wanted.items()):
        try:
            route = {"to": _endpoint(to), "source": source, "listen": listen}
            if listen in servers:
                if routes[listen]["to"] != route["to"]:
                    # a switch: the same listener, a new target, once the target answers here
                    await _reachable(route)
                routes[listen].update(route)
                continue
            routes[listen] = route
            servers[listen] = await _listen(_endpoint(listen), route, public)
        except (OSError, ValueError) as exc:
            if listen not in servers:
                routes.pop(listen, None)
            failed.append("%s (%s)" % (listen, exc))
    return failed


async def serve(path):
    servers, routes, seen, last_failed = {}, {}, None, None
    in_force, reported = None, None
    while True:
        try:
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp != seen:
            seen = stamp
            try:
                wanted = _read(path) if stamp else {}
            except (OSError, ValueError, KeyError) as exc:
                _logger.warning("%s unreadable, routes kept: %s", path, exc)
                wanted = None
            if wanted is not None:
                failed = await _apply(wanted, servers, routes)
                if failed:
                    seen = None  # try again: an address not attached yet, a name not in the DNS yet
                if failed != last_failed or not failed:
                    _logger.info("%d routes%s", len(servers),
                                 "; not yet: " + ", ".join(failed) if failed else "")
                last_failed = failed
                if not failed and stamp:
                    _held(path, stamp)  # before .applied: whoever sees the version in force finds its counts
                    reported, in_force = (stamp, dict(OPEN)), stamp
                    _applied(path, stamp)
        if in_force and reported != (in_force, OPEN):
            _held(path, in_force)
            reported = (in_force, dict(OPEN))
        await asyncio.sleep(CHECK_EVERY)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: door_relay.py ROUTES.json")
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="door_relay: %(message)s")
    asyncio.run(serve(sys.argv[1]))

"""An environment's network on a swarm host (``runtime_kind`` "swarm"):
an overlay of its own that reaches the host's services only through the
swarm gateway's door (services/swarm_gateway.py), each of them from the
environment's own loopback address on the host, and that the front door
reaches through the environment's sockets.

- the database server: ``<door>:<its port>`` (the configuration file says
  so); pg_hba.conf admits the environment's role from its loopback
  address only (``source_address``), in a section of the swarm host's own;
- development and staging (internal overlays): the mail catcher and the
  egress proxy at the door too, on their own ports; the egress proxy
  knows the environment by its loopback address;
- the front door: ``<doors_root>/e<id>/http.sock`` and ``ws.sock``, led
  to the unit that serves (``serve``).

The host's firewall has nothing to do here: an overlay is no interface of
the host, and the door is the only way in or out of an internal one. What
a production overlay's way out (the node's ``docker_gwbridge``) reaches of
the nodes themselves is the nodes' guard's (services/swarm_guard.py),
ensured before any door opens.
"""

import os

from ..services import egress, env_network, swarm_gateway, swarm_guard
from ..services.postgres import access
from ..services.runtime import RuntimeFailure
from . import swarm_images
from .base import RunFailed

SOURCE_POOL = "127.77.0.0/16"  # every environment's loopback address (swarm_gateway.source_address)


def ensure_guard(spec, engine):
    """Every node guarded (services/swarm_guard.py), its image copied first
    to the nodes whose engine the platform knows and where the guard does
    not run yet (a node that joined: the others are not asked at each run);
    a guard that does not run also says which copies failed. The swarm's
    nodes are read once for all three."""
    nodes = engine.nodes()
    wanted = swarm_guard.unguarded(engine, spec["namespace"], nodes) if spec.get("node_engines") else set()
    copies = swarm_images.copy_to_nodes(spec, engine, swarm_guard.IMAGE, only=wanted, nodes=nodes)
    try:
        return swarm_guard.ensure(engine, spec["namespace"], nodes=nodes)
    except RuntimeFailure as exc:
        failed = {node: why for node, why in copies.items() if why}
        if not failed:
            raise
        raise RuntimeFailure("%s Its image did not reach %s." % (exc, "; ".join(
            "%s (%s)" % item for item in sorted(failed.items())))) from exc


def is_swarm(spec):
    return spec.get("runtime_kind") == "swarm"


def key(spec):
    return "e%d" % int(spec["environment_id"])


def _settings(spec):
    return spec.get("network_settings") or {}


def doors_root(spec):
    """The host's directory of the gateway's sockets (mounted into it)."""
    return _settings(spec).get("doors_root") or os.path.join(spec["work_root"], "doors", spec["namespace"])


def gateway(spec, engine):
    return swarm_gateway.Gateway(engine, spec["namespace"], spec["tool_image"], doors_root(spec))


def relay(spec):
    """The host's side of the doors (one process for the whole host)."""
    return swarm_gateway.HostRelay(doors_root(spec))


def _is_local(server):
    return str(server.get("host") or "127.0.0.1") in access.LOOPBACK


def host_services(spec, net):
    """{door name: (host, port, whether connections come from the
    environment's loopback address)} the environment on ``net`` reaches."""
    db = spec["db"]
    services = {"db": (db.get("host") or "127.0.0.1", int(db["port"]), _is_local(db))}
    if net["internal"]:
        settings = _settings(spec)
        if spec.get("mail"):
            services["mail"] = ("127.0.0.1", int(settings["mail_port"]), True)
        if settings.get("egress_port"):
            services["egress"] = ("127.0.0.1", int(settings["egress_port"]), True)
    return services


def open_doors(spec, engine, net):
    """The host relay's sockets, then the gateway on ``net`` with a door
    for each host service; the egress proxy's rules for the environment's
    address. Raises RunFailed naming what failed."""
    source = swarm_gateway.source_address(spec["environment_id"])
    services = host_services(spec, net)
    host_relay = relay(spec)
    try:
        ensure_guard(spec, engine)  # no environment runs on a node that is not guarded
        for what, (host, port, from_source) in services.items():
            host_relay.route(key(spec), what, host, port, source if from_source else None)
        gateway(spec, engine).open(key(spec), net, host_services={what: port for what, (_h, port, _s)
                                                                  in services.items()})
        if "egress" in services:
            settings = _settings(spec)
            egress.set_environment(settings["egress_root"], settings["egress_port"], spec["environment_id"],
                                   "%s/32" % source, settings.get("allowlist") or "",
                                   forbidden=[settings.get("pool") or env_network.DEFAULT_POOL])
    except (RuntimeFailure, egress.EgressError, ValueError) as exc:
        raise RunFailed("The environment's doors on the swarm could not be opened: %s" % exc) from exc


def serve(spec, engine, unit):
    """The environment's sockets lead to ``unit`` from now on (once it
    answers from the gateway). Returns {"http": path, "ws": path}."""
    gw = gateway(spec, engine)
    try:
        gw.serve(key(spec), unit)
    except RuntimeFailure as exc:
        raise RunFailed("The front door could not be switched to %s: %s" % (unit, exc)) from exc
    return {what: str(gw.socket(key(spec), what)) for what in ("http", "ws")}


def drain(spec, engine, unit, timeout):
    """After ``serve(spec, engine, unit)``: until the requests the other
    units still answer through the environment's socket are done, at most
    ``timeout`` seconds. How many are left (None: the gateway does not say)."""
    return gateway(spec, engine).drain(key(spec), unit, timeout)


def close(spec, engine, network_names):
    """The environment's doors go (its units and networks are gone or going)."""
    gateway(spec, engine).close(key(spec), *(network_names or ()))
    relay(spec).close(key(spec))


def endpoint(spec, what):
    """``what`` (db, mail, egress) as the environment's containers reach it: the door."""
    services = host_services(spec, spec["network"])
    return {"host": swarm_gateway.door_address(spec["network"]), "port": services[what][1]}


def section(spec):
    """The swarm host's own pg_hba sections (a docker host's sync of the
    same control plane leaves them alone)."""
    return "%s:%s" % (spec["namespace"], spec.get("host") or "swarm")


def source_network(environment_id):
    """What pg_hba.conf admits an environment's role from: its loopback address."""
    return "%s/32" % swarm_gateway.source_address(environment_id)

"""Each environment's own Docker network: the outer wall around its code.

Plain values in and out, the engine through the runtime interface
(services/runtime.py). Nothing of an
environment shares the host's network namespace: its containers (the one
serving it and every one-shot container that runs its code: install,
tests, neutralize, shell) sit on a bridge network of its own, cut from the
platform's pool (``ipai_ops.network_pool``, default ``10.213.0.0/16``), one
/28 each::

    .1        the host on this network (its gateway): the database server,
              the mail catcher and the egress proxy, as the environment sees
              them; the firewall (services/firewall.py) lets nothing else of
              the host answer there
    .2, .3    the serving container (a switch starts the new one on the
              address the old one does not hold: both run for a moment)
    .8 - .14  one-shot containers, given out by Docker

Two kinds, chosen by stage:

- ``i`` (isolated): development and staging. A Docker ``internal`` network:
  no route off the host; allow-listed hosts through the egress proxy
  (services/egress.py).
- ``p`` (production): the internet, like any server.

A third, ``b``, is the control plane's build network: image builds (the
project's requirements from PyPI) reach the internet but nothing of the
host and no database.

The host side of each network is a bridge named ``ipo<kind><plane><subnet>``
(``ipo`` + 1 + 6 + 4 characters, Linux allows 15): the firewall matches
every environment network of one control plane and kind with one wildcard
(``ipoi<plane>+``), and nothing else on the host is called that.
"""

import ipaddress
import logging
import os
import tempfile
import time

from . import filelock, naming
from .runtime import LABEL_PREFIX, labels_for
from .runtime import RuntimeFailure as DockerError

_logger = logging.getLogger(__name__)

DEFAULT_POOL = "10.213.0.0/16"
PREFIX = 28  # 16 addresses: gateway, two serving slots, the rest for one-shot containers
SERVE_SLOTS = (2, 3)
ISOLATED, PRODUCTION, BUILD = "i", "p", "b"
KINDS = (ISOLATED, PRODUCTION, BUILD)
BRIDGE_PREFIX = "ipo"
HTTP_PORT = 8069  # inside the container: every container has its own network namespace
GEVENT_PORT = 8072


def kind_for_stage(stage):
    """Production reaches the internet; development and staging do not."""
    return PRODUCTION if stage == "production" else ISOLATED


def validate_pool(value):
    """The pool environments' subnets are cut from: an IPv4 private network
    of /8 to /16 (the bridge names carry the low 16 bits of a subnet)."""
    try:
        pool = ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as exc:
        raise ValueError("Invalid network pool %r: use a private IPv4 network such as 10.213.0.0/16 (%s)."
                         % (value, exc)) from exc
    if pool.version != 4 or not pool.is_private or not 8 <= pool.prefixlen <= 16:
        raise ValueError("Invalid network pool %r: a private IPv4 network from /8 to /16, e.g. 10.213.0.0/16."
                         % (value,))
    return pool


def network_name(plane, environment_id, kind):
    naming.validate_namespace(plane)
    if kind not in KINDS:
        raise ValueError("Unknown network kind %r." % (kind,))
    if kind == BUILD:
        return "ops_%s_build" % plane
    return "ops_%s_e%d_%s" % (plane, int(environment_id), kind)


def bridge_prefix(plane, kind):
    """What the host-side interfaces of one control plane's networks of
    ``kind`` start with (the firewall's wildcard)."""
    naming.validate_namespace(plane)
    return "%s%s%s" % (BRIDGE_PREFIX, kind, plane[1:7])


def bridge_name(plane, kind, subnet):
    low = int(ipaddress.ip_network(subnet).network_address) & 0xFFFF
    return "%s%04x" % (bridge_prefix(plane, kind), low)


def address(subnet, host):
    """The ``host``-th address of ``subnet`` (1: the gateway, 2 and 3: serving)."""
    return str(ipaddress.ip_network(subnet)[host])


def get(engine, name):
    """The network ``name`` ({name, id, subnet, gateway, internal, kind,
    environment_id, containers}), or None."""
    info = engine.network(name)
    if not info:
        return None
    labels, subnet = info["labels"], info["subnet"]
    env_id = str(labels.get(LABEL_PREFIX + "environment", ""))
    return dict(info, gateway=info["gateway"] or (address(subnet, 1) if subnet else None),
                kind=labels.get(LABEL_PREFIX + "network-kind"),
                environment_id=int(env_id) if env_id.isdigit() else None)


def networks(engine, plane):
    """Every network this control plane made, as ``get`` describes them."""
    found = engine.network_names({LABEL_PREFIX + "plane": plane, LABEL_PREFIX + "network-kind": None})
    # a listing does not say which containers are attached: ask each one.
    return [info for info in (get(engine, name) for name in found) if info]


def _used_subnets(engine):
    used = []
    for subnet in engine.subnets_in_use():
        try:
            used.append(ipaddress.ip_network(subnet, strict=False))
        except (TypeError, ValueError):
            continue
    return used


def _free_subnets(pool, used):
    for subnet in pool.subnets(new_prefix=PREFIX):
        if not any(subnet.overlaps(other) for other in used):
            yield subnet


def ensure(engine, plane, kind, environment_id=None, project=None, pool=DEFAULT_POOL):
    """The network of an environment (or the build network) of ``kind``,
    made when it does not exist yet. Returns ``get``'s description."""
    name = network_name(plane, environment_id or 0, kind)
    # The runs of this machine that ask at once (two builds need the build
    # network): one makes it, the others find it. Docker's own duplicate
    # check is best effort: two creations at once made two networks of one
    # name, and every later use of the name failed as ambiguous.
    with filelock.locked(os.path.join(tempfile.gettempdir(), "ipai-ops-network-%s.lock" % name)):
        return _ensure(engine, name, plane, kind, environment_id, project, pool)


def _ensure(engine, name, plane, kind, environment_id, project, pool):
    found = get(engine, name)
    if found and kind != BUILD and found["labels"].get(LABEL_PREFIX + "project") != str(project):
        # Left by an environment of the same id of an earlier database of this
        # control plane (a test database made again): never another's.
        if found["containers"]:
            raise DockerError("Network %s belongs to project %s and is in use: refusing to share it with %s."
                              % (name, found["labels"].get(LABEL_PREFIX + "project"), project))
        remove(engine, name)
        found = None
    if found:
        return found if found["subnet"] else _allocated(engine, name)
    pool = validate_pool(pool)
    labels = labels_for(plane, project, environment_id if kind != BUILD else None, role="network")
    labels[LABEL_PREFIX + "network-kind"] = kind
    refused = []
    for _attempt in range(8):
        subnet = next(_free_subnets(pool, _used_subnets(engine) + refused), None)
        if subnet is None:
            raise DockerError("No free /%d left in the environments' network pool %s (ipai_ops.network_pool): "
                              "destroy unused environments or give a larger pool." % (PREFIX, pool))
        try:
            engine.create_network(
                name, labels, str(subnet), address(subnet, 1),
                # Docker gives out the upper half; the serving slots stay the platform's.
                str(list(subnet.subnets(prefixlen_diff=1))[1]), internal=kind == ISOLATED,
                options={"com.docker.network.bridge.name": bridge_name(plane, kind, subnet),
                         "com.docker.network.bridge.enable_ip_masquerade": "false" if kind == ISOLATED else "true"})
        except DockerError as exc:
            found = get(engine, name)
            if found:  # another worker made it meanwhile
                return _allocated(engine, name)
            if "overlap" in str(exc).lower():  # another one took this subnet meanwhile
                refused.append(subnet)
                continue
            raise
        _logger.info("ops: network %s on %s (%s)", name, subnet, "isolated" if kind == ISOLATED else kind)
        return _allocated(engine, name)
    raise DockerError("Cannot create network %s: every subnet tried was taken meanwhile." % name)


def _allocated(engine, name, timeout=10):
    """``get``'s description of network ``name`` once it has its subnet: a
    swarm's manager allocates an overlay's a moment after creating it (an
    inspection right after may show none)."""
    deadline = time.monotonic() + timeout
    while True:
        found = get(engine, name)
        if not found or found["subnet"]:
            return found
        if time.monotonic() > deadline:
            raise DockerError("Network %s has no subnet %ds after its creation." % (name, timeout))
        time.sleep(0.1)


def serve_address(network, avoid=None):
    """The serving slot a new container takes: the one ``avoid`` (the
    address of the container serving now) does not hold."""
    for slot in SERVE_SLOTS:
        candidate = address(network["subnet"], slot)
        if candidate != avoid:
            return candidate
    raise ValueError("no serving slot")  # pragma: no cover - two slots, one avoided


def remove(engine, name):
    """Remove a network nothing is attached to any more; False when it is
    not there, a DockerError when something still is."""
    return engine.remove_network(name)


def remove_environment(engine, plane, environment_id):
    """Remove the networks of an environment whose containers are gone."""
    removed = []
    for kind in (ISOLATED, PRODUCTION):
        name = network_name(plane, environment_id, kind)
        if remove(engine, name):
            removed.append(name)
    return removed


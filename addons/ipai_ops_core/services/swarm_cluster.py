"""The swarm itself, for the ``swarm`` backend (services/swarm_engine.py):
start one (init), the token and address a node joins with, join, leave,
its nodes with their state and capacity, the name placement pins units to
(a node label), a node's availability (active, pause, drain), the
platform's own services that run on every node (``start_global``: the
nodes' guard), and images copied engine to engine, which is how they reach
a node without a registry.
"""

import logging
import re
import time

from docker.errors import APIError
from docker.types import Healthcheck, IPAMConfig, IPAMPool, Resources, RestartPolicy, ServiceMode

from .runtime import LABEL_PREFIX, RuntimeFailure

_logger = logging.getLogger(__name__)

NODE_LABEL = LABEL_PREFIX + "node"  # the node label placement pins units to
_SECOND = 1_000_000_000  # Swarm's durations are in nanoseconds


class SwarmCluster:
    """Mixed into the swarm backend: ``self.client`` is a manager's engine."""

    # ------------------------------------------------------------------
    def swarm_state(self):
        """``inactive``, ``active`` (a node of a swarm), ``pending``, ``error``; and whether it manages."""
        info = (self.client.info() or {}).get("Swarm") or {}
        return info.get("LocalNodeState") or "inactive", bool(info.get("ControlAvailable"))

    def init_swarm(self, advertise_addr, address_pool=None):
        """Make this engine the first manager of a new swarm (nothing when it
        already manages one). The ``ingress`` network goes: the routing mesh
        needs IPVS, which not every kernel has, and the platform never
        publishes a port through it."""
        state, manager = self.swarm_state()
        if state == "active" and manager:
            return False
        if state != "inactive":
            raise RuntimeFailure("This engine is already in a swarm as a worker (%s): it cannot start another."
                                 % state)
        kwargs = {"advertise_addr": advertise_addr, "listen_addr": "%s:2377" % advertise_addr.split(":")[0]}
        if address_pool:
            kwargs.update(default_addr_pool=[address_pool], subnet_size=24)
        try:
            self.client.swarm.init(**kwargs)
        except APIError as exc:
            raise RuntimeFailure("Cannot start a swarm on %s: %s" % (advertise_addr, exc.explanation or exc)) from exc
        self._remove_ingress()
        return True

    def _remove_ingress(self):
        for net in self.client.networks.list(names=["ingress"]):
            if (net.attrs.get("Scope") == "swarm") and net.attrs.get("Ingress"):
                try:
                    net.remove()
                except APIError as exc:
                    _logger.warning("ops: could not remove the swarm's ingress network: %s", exc)

    def join_token(self, role="worker"):
        """The token a new node joins with, and the managers' address."""
        self._require_manager()
        attrs = self.client.swarm.attrs
        tokens = attrs.get("JoinTokens") or {}
        address = ((self.client.info().get("Swarm") or {}).get("RemoteManagers") or [{}])[0].get("Addr")
        return tokens.get("Worker" if role == "worker" else "Manager"), address

    def join(self, manager_address, token, advertise_addr):
        """Join this engine to the swarm of ``manager_address`` as a worker."""
        state, _manager = self.swarm_state()
        if state == "active":
            raise RuntimeFailure("This engine is already in a swarm.")
        try:
            self.client.swarm.join(remote_addrs=[manager_address], join_token=token, advertise_addr=advertise_addr,
                                   listen_addr="%s:2377" % advertise_addr.split(":")[0])
        except APIError as exc:
            raise RuntimeFailure("Cannot join the swarm at %s: %s" % (manager_address, exc.explanation or exc)) \
                from exc

    def leave(self):
        """Leave the swarm (a manager's last leave ends it)."""
        try:
            self.client.swarm.leave(force=True)
        except APIError as exc:
            if "not part of a swarm" not in str(exc):
                raise RuntimeFailure("Cannot leave the swarm: %s" % (exc.explanation or exc)) from exc

    def _require_manager(self):
        state, manager = self.swarm_state()
        if state != "active" or not manager:
            raise RuntimeFailure("The engine is not a swarm manager (swarm: %s): the swarm runtime needs one." % state)

    def nodes(self):
        """[{id, hostname, role, state (ready, down, ...), availability (active, pause, drain), address,
        name (its ipai-ops.node label or None), cpus, memory_mb, engine}] of the swarm's nodes."""
        self._require_manager()
        found = []
        for node in self.client.nodes.list():
            attrs = node.attrs
            spec, desc, status = attrs.get("Spec") or {}, attrs.get("Description") or {}, attrs.get("Status") or {}
            resources = desc.get("Resources") or {}
            address = status.get("Addr")
            if address in (None, "", "0.0.0.0"):  # a manager may list itself so: its manager address then
                address = ((attrs.get("ManagerStatus") or {}).get("Addr") or "").rsplit(":", 1)[0] or address
            found.append({
                "id": node.id, "hostname": (desc.get("Hostname") or ""), "role": spec.get("Role"),
                "state": status.get("State"), "availability": spec.get("Availability"), "address": address,
                "name": (spec.get("Labels") or {}).get(NODE_LABEL), "labels": spec.get("Labels") or {},
                "cpus": (resources.get("NanoCPUs") or 0) / 1e9,
                "memory_mb": (resources.get("MemoryBytes") or 0) // (1024 * 1024),
                "engine": (desc.get("Engine") or {}).get("EngineVersion")})
        return sorted(found, key=lambda n: n["hostname"])

    def _node(self, ref):
        self._require_manager()
        for node in self.client.nodes.list():
            desc = node.attrs.get("Description") or {}
            labels = (node.attrs.get("Spec") or {}).get("Labels") or {}
            if ref in (node.id, desc.get("Hostname"), labels.get(NODE_LABEL)):
                return node
        raise RuntimeFailure("No node %r in the swarm." % ref)

    def _update_node(self, ref, **changes):
        node = self._node(ref)
        spec = dict(node.attrs.get("Spec") or {})
        if "labels" in changes:
            spec["Labels"] = dict(spec.get("Labels") or {}, **changes["labels"])
        if "availability" in changes:
            spec["Availability"] = changes["availability"]
        try:
            node.update(spec)
        except APIError as exc:
            raise RuntimeFailure("Cannot update node %s: %s" % (ref, exc.explanation or exc)) from exc

    def name_node(self, ref, name):
        """Give a node the name placement pins units to (its ``ipai-ops.node`` label)."""
        self._update_node(ref, labels={NODE_LABEL: name})

    def own_node(self):
        """The placement name of this engine's node: its ``ipai-ops.node``
        label, else its host name (made its label now). Units without a node
        of their own go there: the manager's node has the images it builds."""
        node = self._node(((self.client.info() or {}).get("Swarm") or {}).get("NodeID") or "-")
        name = ((node.attrs.get("Spec") or {}).get("Labels") or {}).get(NODE_LABEL)
        if not name:
            hostname = ((node.attrs.get("Description") or {}).get("Hostname") or "").lower()
            name = re.sub(r"[^a-z0-9-]+", "-", hostname).strip("-")[:63] or "manager"
            self.name_node(node.id, name)
        return name

    def set_availability(self, ref, availability):
        """``active``, ``pause`` (keeps what it runs, takes nothing new) or ``drain``."""
        if availability not in ("active", "pause", "drain"):
            raise RuntimeFailure("A node is active, paused or drained, not %r." % availability)
        self._update_node(ref, availability=availability)

    def machine(self):
        """(CPUs, memory in MB) of the swarm's nodes that are ready and active."""
        usable = [n for n in self.nodes() if n["state"] == "ready" and n["availability"] == "active"]
        return int(sum(n["cpus"] for n in usable)) or 1, sum(n["memory_mb"] for n in usable)

    # ------------------------------------------------------------------
    # the platform's own services on every node
    # ------------------------------------------------------------------
    def start_global(self, image, command, name, labels, files=None, cap_add=(), ready_file=None, mem_limit_mb=64):
        """A service with one task on every node (and every node that joins),
        on the node's own network, root with ``cap_add`` added: the
        platform's own code only, never an environment's. With
        ``ready_file``, a task is running once that file exists in it (its
        health check). Its id; a service that cannot be made leaves nothing."""
        self._require_manager()
        configs, _secrets, made = self._files(name, labels, files)
        healthcheck = Healthcheck(test=["CMD", "test", "-e", ready_file], interval=2 * _SECOND,
                                  timeout=5 * _SECOND, retries=2, start_period=60 * _SECOND) if ready_file else None
        try:
            return self.client.services.create(
                image, command=command[:1], args=command[1:], name=name, labels=labels, container_labels=labels,
                mode=ServiceMode("global"), networks=["host"], user="0", cap_add=list(cap_add) or None,
                configs=configs, healthcheck=healthcheck, init=True,
                restart_policy=RestartPolicy(condition="any", delay=5 * _SECOND, max_attempts=0),
                resources=Resources(mem_limit=mem_limit_mb * 1024 * 1024)).id
        except APIError as exc:
            self._remove_files(made)
            raise RuntimeFailure("Cannot create service %s: %s" % (name, exc.explanation or exc)) from exc

    def node_tasks(self, ref):
        """The tasks of service ``ref`` with their node: [{node_id, state, desired, error}]."""
        return [{"node_id": task.get("NodeID"), "state": (task.get("Status") or {}).get("State"),
                 "desired": task.get("DesiredState"), "error": (task.get("Status") or {}).get("Err")}
                for task in self._tasks(ref)]

    # ------------------------------------------------------------------
    # networks: overlays, attachable (one-shot commands join them)
    # ------------------------------------------------------------------
    def create_network(self, name, labels, subnet, gateway, ip_range, internal=False, options=None):
        """An attachable overlay; the image builds' network stays a bridge of
        the manager's engine (``docker build`` joins no overlay)."""
        if (labels or {}).get(LABEL_PREFIX + "network-kind") == "b":  # env_network.BUILD
            return super().create_network(name, labels, subnet, gateway, ip_range, internal=internal,
                                          options=options)
        self._require_manager()
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=gateway, iprange=ip_range)])
        try:
            self.client.networks.create(name, driver="overlay", attachable=True, scope="swarm", internal=internal,
                                        labels=labels, ipam=ipam, check_duplicate=True)
        except APIError as exc:
            raise RuntimeFailure("Cannot create network %s: %s" % (name, exc.explanation or exc)) from exc

    def remove_network(self, name, timeout=15):
        """As the plain engine's, and returns once the manager no longer
        lists it (its removal spreads a moment after the call returns: a
        listing right after would still find it)."""
        removed = super().remove_network(name)
        deadline = time.monotonic() + timeout
        while removed and name in [net.name for net in self.client.networks.list(names=[name])]:
            if time.monotonic() > deadline:
                raise RuntimeFailure("Network %s is still listed %ds after its removal." % (name, timeout))
            time.sleep(0.1)
        return removed

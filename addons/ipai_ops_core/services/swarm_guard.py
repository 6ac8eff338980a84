"""The swarm nodes' guard, as the manager runs it: a global service of the
control plane (one task on every node, and on every node that joins) that
keeps services/node_guard.py's rules in each node's own tables. A swarm
host's environments run only once their nodes are guarded (``ensure``,
called before an environment's doors open and by the network
reconciliation).

The service: the node's own network (``host``), root with NET_ADMIN added
and nothing else, the platform's own runtime image (``IMAGE``, whatever
the projects' versions: iptables is in every runtime image's base),
the script as a Swarm config, the swarm's node addresses as its arguments
(a node that joins or leaves changes them: the service is made again; the
rules stay meanwhile). Its health check is the script's first complete
pass, so a running task is a guarded node.
"""

import hashlib
import pathlib
import time

from docker.errors import APIError
from docker.types import Healthcheck, Resources, RestartPolicy, ServiceMode

from . import naming
from .runtime import LABEL_PREFIX, RuntimeFailure, labels_for

SCRIPT = pathlib.Path(__file__).with_name("node_guard.py")
IN_CONTAINER = "/guard/node_guard.py"
READY = "/tmp/ipai-ops-node-guard.ready"
IMAGE = "ipai-ops/odoo:18.0"  # scripts/setup.sh builds it on every control plane
INTERVAL = 30  # seconds between two checks of a node's rules
DIGEST_LABEL = LABEL_PREFIX + "guard"  # what the service was made from: image, script, addresses
_SECOND = 1_000_000_000


def service_name(plane):
    return "ops_%s_node_guard" % plane


def node_addresses(engine):
    """Every node's address in the swarm (a manager's may be listed as 0.0.0.0: its manager address then)."""
    addresses = set()
    for node in engine.client.nodes.list():
        address = ((node.attrs.get("Status") or {}).get("Addr") or "").strip()
        if address in ("", "0.0.0.0"):
            address = ((node.attrs.get("ManagerStatus") or {}).get("Addr") or "").rsplit(":", 1)[0]
        if address:
            addresses.add(address)
    return sorted(addresses)


def _eligible(engine):
    """The nodes a global service runs on now: ready and active."""
    return {n["id"]: n["hostname"] for n in engine.nodes() if n["state"] == "ready" and n["availability"] == "active"}


def ensure(engine, plane, image=IMAGE, wait=120):
    """Every ready node of the swarm guarded; the service made or made again
    when its image, its script or the swarm's nodes changed. Returns
    {"service", "nodes": [hostnames guarded], "made": bool}. Raises
    RuntimeFailure naming the node and its error when a node cannot be
    guarded within ``wait`` seconds."""
    naming.validate_namespace(plane)
    name = service_name(plane)
    script = SCRIPT.read_bytes()
    addresses = node_addresses(engine)
    args = [IN_CONTAINER, "--ready", READY, "--interval", str(INTERVAL), *addresses]
    digest = hashlib.sha256(b"\0".join([image.encode(), script, *(a.encode() for a in args)])).hexdigest()[:16]
    service = engine._service(name)
    made = False
    if service is None or ((service.attrs.get("Spec") or {}).get("Labels") or {}).get(DIGEST_LABEL) != digest:
        if service is not None:
            engine.remove_container(service.id, expect_labels=labels_for(plane, role="guard"))
        labels = dict(labels_for(plane, role="guard"), **{DIGEST_LABEL: digest})
        configs, _secrets, files = engine._files(name, labels, {IN_CONTAINER: {"data": script, "mode": 0o444}})
        try:
            service = engine.client.services.create(
                image, command=["python3"], args=args, name=name, labels=labels, container_labels=labels,
                mode=ServiceMode("global"), networks=["host"], user="0", cap_add=["NET_ADMIN"], configs=configs,
                healthcheck=Healthcheck(test=["CMD", "test", "-e", READY], interval=2 * _SECOND,
                                        timeout=5 * _SECOND, retries=2, start_period=60 * _SECOND),
                restart_policy=RestartPolicy(condition="any", delay=5 * _SECOND, max_attempts=0),
                resources=Resources(mem_limit=64 * 1024 * 1024), init=True)
        except APIError as exc:
            engine._remove_files(files)
            raise RuntimeFailure("Cannot create the nodes' guard %s: %s" % (name, exc.explanation or exc)) from exc
        made = True
    try:
        guarded = _wait_guarded(engine, service.id, name, wait)
    except RuntimeFailure:
        if made:  # retried by the next run or reconciliation, not by Swarm forever
            engine.remove_container(service.id, expect_labels=labels_for(plane, role="guard"))
        raise
    return {"service": name, "nodes": guarded, "made": made}


def _said(engine, service_id):
    """The guard's last words (what its failed tasks printed), best effort."""
    try:
        lines = b"".join(engine.client.api.service_logs(service_id, stdout=True, stderr=True, tail=5)).decode(
            errors="replace").splitlines()
    except (APIError, RuntimeError):
        return ""
    return " / ".join(line.strip() for line in lines if line.strip())[-400:]


def _wait_guarded(engine, service_id, name, wait):
    """Until a task of the guard runs (healthy: its first pass done) on every eligible node; a node whose
    tasks failed twice fails at once, with the guard's own words."""
    deadline = time.monotonic() + wait
    while True:
        nodes = _eligible(engine)
        tasks = engine._tasks(service_id)
        running = {t.get("NodeID") for t in tasks
                   if t.get("DesiredState") == "running" and (t.get("Status") or {}).get("State") == "running"}
        missing = sorted(hostname for node_id, hostname in nodes.items() if node_id not in running)
        if not missing:
            return sorted(nodes.values())
        failed = {}
        for task in tasks:
            status = task.get("Status") or {}
            if task.get("NodeID") in nodes and status.get("State") in ("failed", "rejected"):
                failed.setdefault(nodes[task["NodeID"]], []).append(status.get("Err") or status.get("State"))
        if any(len(errors) >= 2 for errors in failed.values()) or time.monotonic() > deadline:
            said = _said(engine, service_id)
            raise RuntimeFailure("The nodes' guard %s does not run on %s%s%s: the environments there would reach "
                                 "their node's own ports." % (
                                     name, ", ".join(missing),
                                     " (%s)" % "; ".join("%s: %s" % (node, errors[-1])
                                                         for node, errors in sorted(failed.items())) if failed
                                     else " within %ds" % wait,
                                     "; it says: %s" % said if said else ""))
        time.sleep(0.5)

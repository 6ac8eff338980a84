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

import fcntl
import hashlib
import os
import pathlib
import tempfile
import time

from . import naming
from .runtime import LABEL_PREFIX, RuntimeFailure, labels_for

SCRIPT = pathlib.Path(__file__).with_name("node_guard.py")
IN_CONTAINER = "/guard/node_guard.py"
READY = "/tmp/ipai-ops-node-guard.ready"
IMAGE = "ipai-ops/odoo:18.0"  # scripts/setup.sh builds it on every control plane
INTERVAL = 30  # seconds between two checks of a node's rules
DIGEST_LABEL = LABEL_PREFIX + "guard"  # what the service was made from: image, script, addresses


def service_name(plane):
    return "ops_%s_node_guard" % plane


def node_addresses(nodes):
    """Every node's address in the swarm (``nodes``: engine.nodes())."""
    return sorted({node["address"] for node in nodes if node["address"]})


def _eligible(nodes):
    """The nodes a global service runs on now: ready and active."""
    return {n["id"]: n["hostname"] for n in nodes if n["state"] == "ready" and n["availability"] == "active"}


def unguarded(engine, plane, nodes):
    """The names (``ipai-ops.node`` labels) of the ready and active nodes
    where the guard has no running task: those that may lack its image (a
    node that joined). Every one when the guard is not there."""
    current = engine.container(service_name(plane))
    eligible = _eligible(nodes)
    running = _running_on(engine.node_tasks(current["id"])) if current is not None else set()
    return {n["name"] for n in nodes if n["id"] in eligible and n["id"] not in running and n["name"]}


def _running_on(tasks):
    """The ids of the nodes where the guard has a task running (and meant to)."""
    return {t["node_id"] for t in tasks if t["desired"] == "running" and t["state"] == "running"}


def ensure(engine, plane, image=IMAGE, wait=120, nodes=None):
    """Every ready node of the swarm guarded; the service made or made again
    when its image, its script or the swarm's nodes changed. Returns
    {"service", "nodes": [hostnames guarded], "made": bool}. Raises
    RuntimeFailure naming the node and its error when a node cannot be
    guarded (a service made for it is removed: the next run or
    reconciliation tries again, not Swarm forever)."""
    naming.validate_namespace(plane)
    # the runs of this machine that ask at once: one of them makes the service, the others find it
    with open(os.path.join(tempfile.gettempdir(), "ipai-ops-guard-%s.lock" % plane), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure(engine, plane, image, wait, nodes)


def _ensure(engine, plane, image, wait, nodes=None):
    name = service_name(plane)
    script = SCRIPT.read_bytes()
    nodes = engine.nodes() if nodes is None else nodes
    command = ["python3", IN_CONTAINER, "--ready", READY, "--interval", str(INTERVAL), *node_addresses(nodes)]
    digest = hashlib.sha256(b"\0".join([image.encode(), script, *(a.encode() for a in command)])).hexdigest()[:16]
    mine = labels_for(plane, role="guard")
    current = engine.container(name)
    made = False
    if current is None or current["labels"].get(DIGEST_LABEL) != digest or _stuck(engine, current["id"], nodes):
        if current is not None:
            engine.remove_container(current["id"], expect_labels=mine)
        service_id = engine.start_global(image, command, name, dict(mine, **{DIGEST_LABEL: digest}),
                                         files={IN_CONTAINER: {"data": script, "mode": 0o444}},
                                         cap_add=["NET_ADMIN"], ready_file=READY)
        made = True
    else:
        service_id = current["id"]
    try:
        guarded = _wait_guarded(engine, service_id, name, wait, nodes)
    except RuntimeFailure:
        if made:
            engine.remove_container(service_id, expect_labels=mine)
        raise
    return {"service": name, "nodes": guarded, "made": made}


def _stuck(engine, service_id, nodes):
    """Whether a node of the swarm has no running task of the guard and a
    failed one (a node that joined without the image: its tasks failed
    before the image was copied there); the service is made again then."""
    tasks = engine.node_tasks(service_id)
    running = _running_on(tasks)
    failed = {t["node_id"] for t in tasks if t["state"] in ("failed", "rejected")}
    return bool((set(_eligible(nodes)) - running) & failed)


def _said(engine, service_id):
    """The guard's last words (what its failed tasks printed), best effort."""
    try:
        lines = engine.logs(service_id, tail=5)
    except RuntimeFailure:
        return ""
    return " / ".join(line.strip() for line in lines if line.strip())[-400:]


def _wait_guarded(engine, service_id, name, wait, nodes):
    """Until a task of the guard runs (healthy: its first pass done) on every eligible node (``nodes``: the
    swarm's nodes as last read); a node whose tasks failed twice fails at once, with the guard's own words."""
    deadline = time.monotonic() + wait
    while True:
        eligible = _eligible(nodes if nodes is not None else engine.nodes())
        tasks = engine.node_tasks(service_id)
        running = _running_on(tasks)
        missing = sorted(hostname for node_id, hostname in eligible.items() if node_id not in running)
        if not missing:
            return sorted(eligible.values())
        failed = {}
        for task in tasks:
            if task["node_id"] in eligible and task["state"] in ("failed", "rejected"):
                failed.setdefault(eligible[task["node_id"]], []).append(task["error"] or task["state"])
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
        nodes = None  # read again

"""services/swarm_guard.py from the attacker's seat: a container on a
production overlay (not internal: it leaves through its node's
docker_gwbridge) on the manager's node and on a worker, against the lab
swarm. What must be unreachable from it: its own node's addresses (the
manager port 2377, the gossip port 7946 at its address and at the
bridge's gateway) and the swarm's other nodes. What must stay
reachable: the world beyond the nodes (a production's payment provider),
here the lab's hub. A guard that cannot run is a clear error and leaves
no service behind."""

import re
import subprocess
import sys

import pytest
import swarm_lab as lab_kit
from odoo.addons.ipai_ops_core.services import runtime, swarm_guard
from swarm_lab import PLANE, PROBE_IMAGE

HUB = "10.251.0.1"  # the lab's hub namespace: "the internet" of its nodes
HUB_PORT = 18099


def _lab_iptables(node, *args):
    """The lab node's own tables (test set-up only: the platform never goes there but through its guard)."""
    return subprocess.run(["nsenter", "--net=/run/netns/ipai-sw%d" % node, "iptables", "-w", "10", *args],
                          capture_output=True, text=True, check=False)


def _unguard(manager):
    """The lab as a swarm without the guard: no service (this plane's, nor a
    control plane's that guarded the lab before), the guard's chains empty
    on both nodes."""
    for guard in manager.containers({runtime.LABEL_PREFIX + "role": "guard"}):
        manager.remove_container(guard["id"])
    for node in (1, 2):
        for chain in ("IPAI-OPS-NODE", "IPAI-OPS-NODE-PEERS"):
            _lab_iptables(node, "-F", chain)


def _reach(engine, network, targets):
    """{"host:port": open?} as seen from a one-shot container on ``network``
    run by ``engine``'s node, ``$gateway`` standing for the node's address on
    docker_gwbridge (the container's default route)."""
    lines = ["ip route > /tmp/r", 'while read a b c rest; do [ "$a" = default ] && gateway=$c; done < /tmp/r']
    lines += ['o=$(timeout 4 nc -w 2 %s %d </dev/null 2>&1); echo "%s:%d [$o]"' % (h, p, h, p) for h, p in targets]
    for attempt in range(3):
        try:
            code, tail = engine.run_to_completion(PROBE_IMAGE, ["sh", "-c", "; ".join(lines)], "sw-guard-probe",
                                                  runtime.labels_for(PLANE, project="p", environment="guard"),
                                                  network=network, timeout=90)
            break
        except runtime.RuntimeFailure as exc:
            # the node has just let the overlay go with the last container on it (Docker 20.10 races there)
            if "not found" not in str(exc) or attempt == 2:
                raise
    assert code == 0, tail
    found = {}
    for line in tail:
        match = re.match(r"^(\S+:\d+) \[(.*)\]$", line)
        if match:
            # busybox nc: "can't connect ... refused" / "timeout"; connected: it waits (timeout ends it) or EOF
            found[match.group(1)] = not re.search(r"can't connect|timed? ?out|refused|unreachable", match.group(2))
    return found, tail


@pytest.fixture(name="hub_listener")
def hub_listener_fixture():
    """Something listening beyond the nodes (the lab's hub), as the internet does for a production."""
    proc = subprocess.Popen(["nsenter", "--net=/run/netns/ipai-sw0", "busybox", "nc", "-ll", "-p", str(HUB_PORT),
                             "-e", "/bin/true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield "%s:%d" % (HUB, HUB_PORT)
    proc.kill()
    proc.wait()


def test_the_guard_closes_the_nodes_to_a_production_overlay_and_keeps_the_world_open(swarm_lab, hub_listener):
    manager = swarm_lab["manager"]
    image = lab_kit.runtime_image(swarm_lab)
    lab_kit.worker(swarm_lab, images=(PROBE_IMAGE, image))
    worker = runtime.connect(swarm_lab["engines"][1][0], timeout=120)  # its own containers: a plain engine
    (m_addr, w_addr) = (swarm_lab["engines"][0][1], swarm_lab["engines"][1][1])
    net = "sw-prod"
    if not manager.network(net):
        manager.create_network(net, {runtime.LABEL_PREFIX + "plane": PLANE}, "10.253.14.0/24", "10.253.14.1",
                               "10.253.14.128/25")
    _unguard(manager)

    # an image without python3 and iptables: the guard's error names the node, nothing is left
    with pytest.raises(runtime.RuntimeFailure, match=r"does not run on .*ipai-sw1"):
        swarm_guard.ensure(manager, PLANE, image=PROBE_IMAGE, wait=60)
    assert manager._service(swarm_guard.service_name(PLANE)) is None

    targets = [(m_addr, 2377), (m_addr, 7946), (w_addr, 7946), ("$gateway", 7946), (HUB, HUB_PORT)]
    # without the guard, a production's code opens the swarm's own ports (what the guard is for)
    before, tail = _reach(manager, net, targets)
    assert before["%s:2377" % m_addr] and before["%s:7946" % w_addr], tail

    done = swarm_guard.ensure(manager, PLANE, image=image)
    assert done["made"] and done["nodes"] == ["ipai-sw1", "ipai-sw2"]
    for engine, where in ((manager, "the manager's node"), (worker, "a worker")):
        after, tail = _reach(engine, net, targets)
        closed = {target: is_open for target, is_open in after.items() if target != hub_listener}
        assert not any(closed.values()), "from %s, still open: %s\n%s" % (where, closed, "\n".join(tail))
        assert after[hub_listener], "from %s, the world beyond the nodes is cut off:\n%s" % (where, "\n".join(tail))

    # each rule once, in order, the refusal last (a pass rewrites nothing that is in place)
    assert _lab_iptables(1, "-S", "IPAI-OPS-NODE").stdout.splitlines()[1:] == [
        "-A IPAI-OPS-NODE -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-A IPAI-OPS-NODE -p tcp -j REJECT --reject-with tcp-reset", "-A IPAI-OPS-NODE -j DROP"]
    peers = _lab_iptables(2, "-S", "IPAI-OPS-NODE-PEERS").stdout
    assert all(peers.count("-d %s/32" % address) == 2 for address in (m_addr, w_addr)), peers

    # a node that is also a Docker host of the platform: its bridges (ipo+) stay the host firewall's
    # (services/firewall.py's chain decides what its environments reach), before the refusal
    _lab_iptables(1, "-N", "IPAI-OPS")
    try:
        subprocess.run(["nsenter", "--net=/run/netns/ipai-sw1", sys.executable, str(swarm_guard.SCRIPT), "--once",
                        m_addr, w_addr], check=True, timeout=60)
        chain = _lab_iptables(1, "-S", "IPAI-OPS-NODE").stdout.splitlines()
        assert chain[2:4] == ["-A IPAI-OPS-NODE -i ipo+ -j IPAI-OPS",
                              "-A IPAI-OPS-NODE -p tcp -j REJECT --reject-with tcp-reset"], chain
    finally:
        _lab_iptables(1, "-D", "IPAI-OPS-NODE", "-i", "ipo+", "-j", "IPAI-OPS")
        _lab_iptables(1, "-X", "IPAI-OPS")

    # nothing changed: the same service, no new task
    again = swarm_guard.ensure(manager, PLANE, image=image)
    assert not again["made"] and again["nodes"] == done["nodes"]
    # the garbage collector's view: the platform's, never an environment's
    listed = manager.containers({runtime.LABEL_PREFIX + "plane": PLANE, runtime.LABEL_PREFIX + "role": "guard"})
    assert [c["name"] for c in listed] == [swarm_guard.service_name(PLANE)]

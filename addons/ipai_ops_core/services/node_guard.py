"""The guard of one swarm node: what the environments' containers on this
node reach of the node itself and of the swarm's other nodes.

services/swarm_guard.py runs this script on every node of a swarm (a
global service, on the node's own network, root with NET_ADMIN and
nothing else). A unit on an overlay network that is not internal (a
production) leaves its network through the node's ``docker_gwbridge``,
and the node answers there on every address it has: without these rules,
a production's code opens the swarm's manager port (2377), its gossip port
(7946) and whatever else listens on the node or on another node. What it
sets, in the node's own tables::

    INPUT        -i docker_gwbridge -j IPAI-OPS-NODE          (first rules)
    INPUT        -i ipo+ -j IPAI-OPS-NODE                     (the platform's bridges: image builds)
    IPAI-OPS-NODE        replies to connections the node opened pass; the
                         platform's bridges go to the host firewall's chain
                         where the node has one (services/firewall.py: a
                         node that is also a Docker host of the platform,
                         whose environments reach their services there);
                         the rest is refused
    DOCKER-USER  -i docker_gwbridge -j IPAI-OPS-NODE-PEERS    (Docker's FORWARD goes there first)
    IPAI-OPS-NODE-PEERS  -d <each node's address>/32: refused
    ip6tables INPUT -i docker_gwbridge / ipo+: dropped

The internet stays reachable, as it is from a production on a Docker host;
an internal overlay has no way out but its door, which is on the overlay.
Nothing of an environment talks to its node: the database and the other
host services are reached through the door (services/swarm_gateway.py),
names through Docker's resolver inside the container.

The rules are checked every ``--interval`` seconds and put back where they
went (a restart of the engine, an operator's flush); a chain is changed
rule by rule, never flushed. When the guard stops, its rules stay: the
node stays closed. ``--ready FILE`` is written after each complete pass
(the service's health check). Standalone: python3 and iptables only.

Usage: node_guard.py [--interval S] [--ready FILE] [--once] NODE_ADDRESS...
"""

import argparse
import ipaddress
import os
import shutil
import subprocess
import sys
import time

CHAIN = "IPAI-OPS-NODE"
PEERS = "IPAI-OPS-NODE-PEERS"
HOST_FIREWALL = "IPAI-OPS"  # services/firewall.py's MAIN
BRIDGES = ("docker_gwbridge", "ipo+")  # services/env_network.py's BRIDGE_PREFIX


class GuardError(Exception):
    """iptables is missing or refused a rule; the message says which."""


def run(tool, *args, check=True):
    path = shutil.which(tool)
    if not path:
        raise GuardError("%s is not installed here: the environments' networks cannot be walled off "
                         "(apt-get install iptables)" % tool)
    proc = subprocess.run([path, "-w", "10", *args], capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        raise GuardError("%s %s failed: %s" % (tool, " ".join(args), (proc.stderr or proc.stdout).strip()))
    return proc


def has(tool, chain, rule):
    return run(tool, "-C", chain, *rule, check=False).returncode == 0


def chain_exists(tool, chain):
    return run(tool, "-n", "-L", chain, check=False).returncode == 0


def make_chain(tool, chain):
    """``chain`` exists afterwards. Another control plane sharing the host
    may make it at the same moment: its refusal then is no error."""
    if chain_exists(tool, chain):
        return
    done = run(tool, "-N", chain, check=False)
    if done.returncode != 0 and not chain_exists(tool, chain):
        raise GuardError("%s -N %s failed: %s" % (tool, chain, (done.stderr or done.stdout).strip()))


def rules(tool, chain):
    prefix = "-A %s " % chain
    return [line[len(prefix):].split() for line in run(tool, "-S", chain).stdout.splitlines()
            if line.startswith(prefix)]


def sync(tool, chain, wanted):
    """``chain`` holds exactly ``wanted``, in order: a missing rule is put
    right before the next wanted one already there (a refusal stays last),
    then stale ones are deleted. Never flushed: nothing passes meanwhile."""
    make_chain(tool, chain)
    for index, rule in enumerate(wanted):
        have = rules(tool, chain)
        if rule in have:
            continue
        after = [have.index(later) for later in wanted[index + 1:] if later in have]
        if after:
            run(tool, "-I", chain, str(min(after) + 1), *rule)
        else:
            run(tool, "-A", chain, *rule)
    for rule in rules(tool, chain):
        if rule not in wanted:
            run(tool, "-D", chain, *rule)


def first(tool, chain, rule):
    if not has(tool, chain, rule):
        run(tool, "-I", chain, "1", *rule)


def refuse():
    return ["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"]


def apply(peers):
    tool = "iptables"
    established = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"]
    # the host firewall's chain ends with its own refusal: what it admits is what its environments may use
    host_firewall = [["-i", "ipo+", "-j", HOST_FIREWALL]] if chain_exists(tool, HOST_FIREWALL) else []
    sync(tool, CHAIN, [established, *host_firewall, refuse(), ["-j", "DROP"]])
    sync(tool, PEERS, [rule for address in peers for rule in (
        ["-d", "%s/32" % address, *refuse()], ["-d", "%s/32" % address, "-j", "DROP"])])
    for bridge in BRIDGES:
        first(tool, "INPUT", ["-i", bridge, "-j", CHAIN])
    make_chain(tool, "DOCKER-USER")  # the engine makes it at start; before, FORWARD does not jump to it yet
    first(tool, "DOCKER-USER", ["-i", "docker_gwbridge", "-j", PEERS])
    if shutil.which("ip6tables"):
        for bridge in BRIDGES:
            rule = ["-i", bridge, "-j", "DROP"]
            if run("ip6tables", "-C", "INPUT", *rule, check=False).returncode != 0:
                run("ip6tables", "-I", "INPUT", "1", *rule, check=False)  # a kernel without IPv6: nothing to guard


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=30)
    parser.add_argument("--ready")
    parser.add_argument("--once", action="store_true")
    parser.add_argument("peers", nargs="*")
    args = parser.parse_args(argv)
    try:
        peers = sorted({str(ipaddress.IPv4Address(address)) for address in args.peers})
    except ValueError as exc:
        parser.error("not a node's address: %s" % exc)
    while True:
        try:
            apply(peers)
        except (GuardError, subprocess.TimeoutExpired) as exc:
            if args.ready and os.path.exists(args.ready):
                os.unlink(args.ready)
            sys.stderr.write("node guard: %s\n" % exc)
            sys.stderr.flush()
            return 1
        if args.ready:
            with open(args.ready, "w") as ready:
                ready.write("%d\n" % time.time())
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())

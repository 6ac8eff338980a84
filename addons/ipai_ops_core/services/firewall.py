"""The host's firewall around the environments' networks (iptables).

A container reaches the host through its network's gateway, and the host
answers on every address it has: without a rule, an environment's code
reaches whatever listens on the host (the control plane's HTTP, nginx's
internal ports, sshd, anything an operator runs). The rules here let an
environment's network reach, on the host, only the ports of the services
it is meant to use; everything else of the host is refused::

    INPUT   -i ipo+ -j IPAI-OPS                        (first rule)
    IPAI-OPS            replies to connections the host opened (nginx,
                        health checks) pass; each control plane's networks
                        go to its own chains; the rest is refused
    IPAI-OPS-<plane>-i  development and staging: database, mail catcher,
                        egress proxy
    IPAI-OPS-<plane>-p  production: database
    IPAI-OPS-<plane>-b  image builds: nothing
    INPUT   -p tcp -m multiport --dports <the plane's service ports>
            -j IPAI-OPS-<plane>-svc    the database, mail catcher and egress
                                       proxy answer the loopback and the
                                       environments' networks only

Traffic between networks, and from isolated networks to the outside, is
Docker's own isolation (``internal`` networks, DOCKER-ISOLATION chains).
IPv6 is refused on every environment network (Docker gives them none).

Argument lists only; chains are changed rule by rule (a rule added before a
stale one is deleted), never flushed: a connection is never refused
because a chain was being rewritten. Several control planes may share the
host (each has its own chains; the shared chain only sends to them).
"""

import shutil

from . import env_network, naming, node_guard

MAIN = "IPAI-OPS"

# iptables is driven the way the nodes' guard drives it (one set of helpers):
# argument lists, a chain synced rule by rule in order, never flushed.
FirewallError = node_guard.GuardError  # iptables is missing or refused a rule; the message says which
_run, _has, _rules, _sync = node_guard.run, node_guard.has, node_guard.rules, node_guard.sync


def plane_chain(plane, kind):
    return "%s-%s-%s" % (MAIN, plane, kind)


def _accept(port):
    return ["-p", "tcp", "-m", "tcp", "--dport", str(int(port)), "-j", "ACCEPT"]


def ensure(plane, ports, services=()):
    """The rules for control plane ``plane``. ``ports``: {kind: [TCP ports
    of the host its networks may reach]} for the kinds ``i``, ``p``, ``b``
    (services/env_network.py); ``services``: the platform's own service
    ports among them (database, mail catcher, egress proxy), which answer
    nobody but the loopback and the environments' networks (the front
    door's public ports are not among them). Idempotent; cheap when
    nothing changes."""
    naming.validate_namespace(plane)
    tool = "iptables"
    node_guard.make_chain(tool, MAIN)
    established = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]
    if not _has(tool, MAIN, established):
        _run(tool, "-I", MAIN, "1", *established)
    for kind in env_network.KINDS:
        chain = plane_chain(plane, kind)
        _sync(tool, chain, [_accept(port) for port in sorted({int(p) for p in ports.get(kind) or ()})])
        jump = ["-i", env_network.bridge_prefix(plane, kind) + "+", "-j", chain]
        if not _has(tool, MAIN, jump):
            _run(tool, "-I", MAIN, "2", *jump)
    reject = ["-j", "REJECT", "--reject-with", "icmp-port-unreachable"]
    if not _has(tool, MAIN, reject):
        _run(tool, "-A", MAIN, *reject)
    # The shared chain last, so that every jump above is before its REJECT.
    entry = ["-i", env_network.BRIDGE_PREFIX + "+", "-j", MAIN]
    if not _has(tool, "INPUT", entry):
        _run(tool, "-I", "INPUT", "1", *entry)
    _services(tool, plane, sorted({int(p) for p in services}))
    _ipv6()


def _services(tool, plane, ports):
    """The platform's service ports (database, mail catcher, egress proxy)
    listen on every address so that each network's gateway reaches them:
    they answer the loopback and the environments' networks, nobody else
    (not another machine of the LAN, not the default docker0 bridge)."""
    chain = plane_chain(plane, "svc")
    _sync(tool, chain, [["-i", "lo", "-j", "RETURN"], ["-i", env_network.BRIDGE_PREFIX + "+", "-j", "RETURN"],
                        ["-j", "DROP"]])
    wanted = [["-p", "tcp", "-m", "multiport", "--dports", ",".join(str(p) for p in ports), "-j", chain]] \
        if ports else []
    have = [rule for rule in _rules(tool, "INPUT") if rule[-2:] == ["-j", chain]]
    for rule in wanted:
        if rule not in have:
            _run(tool, "-I", "INPUT", "2", *rule)
    for rule in have:
        if rule not in wanted:
            _run(tool, "-D", "INPUT", *rule)


def _ipv6():
    if not shutil.which("ip6tables"):
        return
    rule = ["-i", env_network.BRIDGE_PREFIX + "+", "-j", "DROP"]
    if _run("ip6tables", "-C", "INPUT", *rule, check=False).returncode != 0:
        # A kernel without IPv6 has nothing to protect: ignore its refusal.
        _run("ip6tables", "-I", "INPUT", "1", *rule, check=False)


def describe(plane):
    """The rules in place for ``plane`` (what the README's table promises), for tests and support."""
    return {kind: _rules("iptables", plane_chain(plane, kind)) for kind in (*env_network.KINDS, "svc")}


def remove(plane):
    """Every rule and chain of ``plane`` (a control plane that is gone; the
    tests). The shared chain stays: other control planes may use it."""
    naming.validate_namespace(plane)
    tool = "iptables"
    for kind in env_network.KINDS:
        chain = plane_chain(plane, kind)
        jump = ["-i", env_network.bridge_prefix(plane, kind) + "+", "-j", chain]
        while node_guard.chain_exists(tool, MAIN) and _has(tool, MAIN, jump):
            _run(tool, "-D", MAIN, *jump)
    svc = plane_chain(plane, "svc")
    if node_guard.chain_exists(tool, "INPUT"):
        for rule in _rules(tool, "INPUT"):
            if rule[-2:] == ["-j", svc]:
                _run(tool, "-D", "INPUT", *rule)
    for chain in [plane_chain(plane, kind) for kind in env_network.KINDS] + [svc]:
        if node_guard.chain_exists(tool, chain):
            _run(tool, "-F", chain)
            _run(tool, "-X", chain)

"""An environment's network, ready before any of its containers starts.

``ensure`` makes (once per run; the spec remembers it) the network of the
environment's stage (services/env_network.py), the host's firewall around
the control plane's networks (services/firewall.py), the database server's
pg_hba rules for the networks that exist (services/postgres/access.py)
and, for development and staging, the egress proxy's rules for the
project's allow-list (services/egress.py). Every executor that starts a
container of the environment goes through here (odoo_steps.run_odoo,
cutover.start); nothing starts on the host's network.

The spec's ``network_settings`` (ops.environment._ops_network_settings):
pool, mail_port, egress_root, egress_port, front_door_ports (nginx's, where
it listens beyond the loopback), allowlist (the project's).
"""

from ..services import egress, env_network, firewall, naming
from ..services.postgres import PostgresError, access
from ..services.runtime import RuntimeFailure as DockerError
from . import swarm_doors
from .base import RunFailed


def _settings(spec):
    return spec.get("network_settings") or {}


def _is_local(server):
    return bool(server) and str(server.get("host") or "127.0.0.1") in access.LOOPBACK


def db_is_local(spec):
    """Whether the environment's database server runs on this host (reached
    from the environments' networks through their gateway)."""
    return _is_local(spec["db"])


def _shared_db(spec):
    """The shared database server (the spec's ``db`` is production's cluster
    for a production that lives there)."""
    return _settings(spec).get("shared_db") or spec["db"]


def _shared_port(spec):
    shared = _shared_db(spec)
    return int(shared["port"]) if _is_local(shared) else None


def _production_db(spec):
    production = _settings(spec).get("production_db")
    return production if _is_local(production) else None


def firewall_ports(spec):
    """The host's TCP ports each kind of network reaches (see services/firewall.py):
    production's cluster from production networks only."""
    settings = _settings(spec)
    front = [int(port) for port in settings.get("front_door_ports") or ()]
    shared = [port for port in (_shared_port(spec),) if port]
    production = [int(_production_db(spec)["port"])] if _production_db(spec) else []
    isolated = shared + front + [int(port) for port in (settings.get("mail_port"), settings.get("egress_port"))
                                 if port]
    return {env_network.ISOLATED: isolated, env_network.PRODUCTION: shared + production + front,
            env_network.BUILD: []}


def service_ports(spec):
    """The platform's own services environments reach on the host: the
    database servers (when they run here), the mail catcher, the egress proxy."""
    settings = _settings(spec)
    production = _production_db(spec)
    return [int(port) for port in (_shared_port(spec), production and production["port"],
                                   settings.get("mail_port"), settings.get("egress_port")) if port]


def secure_host(spec):
    """The host's firewall for this control plane's networks."""
    firewall.ensure(spec["namespace"], firewall_ports(spec), service_ports(spec))


def sync_database_access(spec, engine):
    """pg_hba.conf admits each environment role of this control plane from
    its own network only (the networks as Docker has them now); production's
    cluster admits production networks' roles only. Returns what the
    environment's own server did."""
    plane = spec["namespace"]
    nets = [net for net in env_network.networks(engine, plane) if net["environment_id"]]
    # On a swarm host: each role from its environment's loopback address (the
    # host relay's side of the door), in sections of that host's own.
    swarm = swarm_doors.is_swarm(spec)
    section, pool = (swarm_doors.section(spec), swarm_doors.SOURCE_POOL) if swarm else (plane, _pool(spec))

    def entries(*kinds):
        return [(naming.env_role_name(plane, net["environment_id"]),
                 swarm_doors.source_network(net["environment_id"]) if swarm else net["subnet"])
                for net in nets if net["kind"] in kinds]

    # Odoo's server opens the maintenance database (postgres) at start: not that one.
    deny = [name for name in ("template1", _settings(spec).get("control_db")) if name]
    result = access.sync(_shared_db(spec), section, entries(env_network.ISOLATED, env_network.PRODUCTION),
                         pool=pool, deny_databases=deny)
    production = _settings(spec).get("production_db")
    if production:
        on_production = access.sync(production, section, entries(env_network.PRODUCTION), pool=pool,
                                    deny_databases=deny)
        if spec["db"] == production:
            result = on_production
    return result


def _pool(spec):
    return _settings(spec).get("pool") or env_network.DEFAULT_POOL


def ensure(spec, engine, reporter=None):
    """The environment's network, with its firewall, database and egress
    rules; remembered in ``spec["network"]``. Raises RunFailed naming what
    could not be set up."""
    if spec.get("network"):
        return spec["network"]
    plane, kind = spec["namespace"], env_network.kind_for_stage(spec.get("stage"))
    try:
        net = env_network.ensure(engine, plane, kind, spec["environment_id"], spec["project_slug"], _pool(spec))
        if swarm_doors.is_swarm(spec):
            swarm_doors.open_doors(spec, engine, net)  # the egress proxy's rules too
        else:
            secure_host(spec)
        hba = sync_database_access(spec, engine)
        if kind == env_network.ISOLATED and not swarm_doors.is_swarm(spec):
            settings = _settings(spec)
            egress.set_environment(settings["egress_root"], settings["egress_port"], spec["environment_id"],
                                   net["subnet"], settings.get("allowlist") or "", forbidden=[_pool(spec)])
    except (DockerError, firewall.FirewallError, PostgresError, egress.EgressError, ValueError) as exc:
        raise RunFailed("The environment's network could not be set up: %s" % exc) from exc
    if reporter and hba["status"] == "unmanaged":
        reporter.log("warning", "The database server's pg_hba.conf is not the platform's to change (an external "
                                "server): it must admit this environment's role from its network only: %s"
                     % " | ".join(line for line in hba["lines"] if line.startswith("host")))
    if reporter and hba["status"] == "reloaded":
        reporter.log("info", "Network %s (%s, %s); the database server admits %s from it only" % (
            net["name"], net["subnet"], ("no way out but its door" if swarm_doors.is_swarm(spec) else
                                         "no route off the host") if net["internal"] else "internet",
            naming.env_role_name(plane, spec["environment_id"])))
    spec["network"] = net
    return net


def reconcile_swarm(spec, engine):
    """A swarm host's doors after a reboot or a crash: the host relay
    running again (the gateway container restarts with its engine), the
    host's pg_hba sections as its networks are, and every node guarded
    (services/swarm_guard.py: one that joined gets its guard, one that left
    is no longer a peer). Returns what it did."""
    pid = swarm_doors.relay(spec).ensure_running()
    hba = sync_database_access(spec, engine)
    guard = swarm_doors.ensure_guard(spec, engine)
    return "host relay running (pid %d), pg_hba %s, nodes guarded: %s" % (pid, hba["status"],
                                                                          ", ".join(guard["nodes"]) or "none")


def build_network(spec, engine):
    """The control plane's network for image builds: the internet (the
    project's requirements), nothing of the host, no database."""
    plane = spec["namespace"]
    try:
        net = env_network.ensure(engine, plane, env_network.BUILD, pool=_pool(spec))
        if not swarm_doors.is_swarm(spec):  # a swarm manager's engine keeps its own rules
            secure_host(spec)
    except (DockerError, firewall.FirewallError, ValueError) as exc:
        raise RunFailed("The build network could not be set up: %s" % exc) from exc
    return net["name"]


def db_endpoint(spec):
    """Where the environment's containers find the database server: their
    network's gateway when it runs on this host, else its own address (on
    a swarm host: the door, always)."""
    if swarm_doors.is_swarm(spec):
        return swarm_doors.endpoint(spec, "db")
    if db_is_local(spec):
        return {"host": spec["network"]["gateway"], "port": int(spec["db"]["port"])}
    return {"host": spec["db"]["host"], "port": int(spec["db"]["port"])}


def mail_endpoint(spec):
    """The mail catcher as the environment's containers reach it (its
    gateway), with the environment's own login; None in production."""
    mail = spec.get("mail")
    if not mail:
        return None
    if swarm_doors.is_swarm(spec):
        return dict(mail, **swarm_doors.endpoint(spec, "mail"))
    return dict(mail, host=spec["network"]["gateway"])


def container_environment(spec):
    """The variables of every container of the environment: the egress
    proxy for development and staging (requests and urllib honour them)."""
    net = spec["network"]
    if net["internal"]:
        if swarm_doors.is_swarm(spec):
            door = swarm_doors.endpoint(spec, "egress")
            proxy, no_proxy = "http://%s:%d" % (door["host"], door["port"]), "localhost,127.0.0.1,%s" % door["host"]
        else:
            proxy = "http://%s:%d" % (net["gateway"], int(_settings(spec)["egress_port"]))
            no_proxy = "localhost,127.0.0.1,%s" % net["gateway"]
        return {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
                "NO_PROXY": no_proxy, "no_proxy": no_proxy}
    return {}


def teardown(spec, engine, reporter=None):
    """After the environment's containers are gone: its networks, its
    pg_hba lines and its egress rules go too."""
    plane = spec["namespace"]
    removed = []
    try:
        if swarm_doors.is_swarm(spec):  # the gateway leaves the networks first
            swarm_doors.close(spec, engine, [env_network.network_name(plane, spec["environment_id"], kind)
                                             for kind in (env_network.ISOLATED, env_network.PRODUCTION)])
        removed = env_network.remove_environment(engine, plane, spec["environment_id"])
        sync_database_access(spec, engine)
        settings = _settings(spec)
        if settings.get("egress_root"):
            egress.remove_environment(settings["egress_root"], spec["environment_id"])
    except (DockerError, PostgresError, egress.EgressError) as exc:
        if reporter:
            reporter.log("warning", "The environment's network was not removed completely (the garbage collector "
                                    "retries): %s" % exc)
    return removed

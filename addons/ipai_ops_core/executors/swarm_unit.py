"""An environment's server on a swarm host: a unit (a service of one
replica, services/swarm_engine.py) on the environment's overlay, its
configuration file a Swarm secret and the platform's addons for
environments Swarm configs (executors/odoo_steps.unit_mounts), healthy
only once it answers on its ports *and* opens its own database, which
Swarm's health check in the unit finds out (there is no address of the
overlay the platform's host could poll). The cutover then leads the
environment's sockets to it (executors/swarm_doors.serve)."""

from ..services import env_network
from ..services.runtime import RuntimeFailure
from . import network, odoo_steps, swarm_images
from .base import RunFailed

HEALTH_INTERVAL = 2  # seconds between Swarm's health checks of a unit

# In the unit, as Odoo's user: every port answers /web/health, and once (a
# mark in /tmp) the server opens the database: a login nobody has is
# refused (False) by a server that can open it, an error otherwise (see
# services/http_health.serves_database).
PROBE = """import json, os, sys, urllib.request
db, ports = sys.argv[1], sys.argv[2:]
for port in ports:
    urllib.request.urlopen("http://127.0.0.1:%s/web/health" % port, timeout=8).read()
mark = "/tmp/ipai-ops-opens-database"
if not os.path.exists(mark):
    body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
        "service": "common", "method": "authenticate", "args": [db, "__ipai_ops_health_probe__", "-", {}]}})
    request = urllib.request.Request("http://127.0.0.1:%s/jsonrpc" % ports[0], body.encode(),
                                     {"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(request, timeout=8))
    if "error" in answer or answer.get("result") is not False:
        sys.exit("the server does not open %s: %s" % (db, (answer.get("error") or {}).get("data", {}).get("message")))
    open(mark, "w").close()
"""


def start(spec, engine, image, dbname, command, reporter):
    """Start the environment's unit for ``dbname`` and wait until Swarm has
    it healthy. Returns (its id, its name: what Docker's DNS knows it by).
    A unit that does not become healthy is removed (the engine does) and
    RunFailed quotes its last health check."""
    net = network.ensure(spec, engine, reporter)
    name = odoo_steps.container_name(spec, "serve")
    volumes, files = odoo_steps.unit_mounts(spec, engine, reporter)
    ports = [str(env_network.HTTP_PORT)]
    if (spec.get("runtime") or {}).get("workers"):
        ports.append(str(env_network.GEVENT_PORT))
    timeout = spec.get("health_timeout", 180)
    node = placement(spec, engine)
    swarm_images.copy_to_node(spec, engine, image, node, reporter)
    reporter.log("info", "Starting unit %s on overlay %s (swarm node %s); waiting until it is healthy" % (
        name, net["name"], node))
    reporter.flush()
    try:
        unit_id = engine.start(
            image, command, name, odoo_steps.labels(spec, "serve"), network=net["name"], volumes=volumes,
            files=files, environment=network.container_environment(spec), mem_limit=spec.get("mem_limit"),
            nano_cpus=spec.get("nano_cpus"), node=node,
            healthcheck={"test": ["CMD", "python3", "-c", PROBE, dbname, *ports], "interval": HEALTH_INTERVAL,
                         "timeout": 10, "retries": 3, "start_period": timeout},
            wait=timeout)
    except RuntimeFailure as exc:
        raise RunFailed("The environment did not become healthy: %s" % exc) from exc
    return unit_id, name


def placement(spec, engine):
    """The node the environment's unit goes on (its placement name): the
    run's (a move), else the environment's own, else the manager's (it has
    the images it builds), which becomes the environment's (spec["node"])."""
    if not spec.get("node"):
        try:
            spec["node"] = engine.own_node()
        except RuntimeFailure as exc:
            raise RunFailed("The swarm's manager does not answer: %s" % exc) from exc
    return spec["node"]


def name_of(engine, ref):
    """The name of unit ``ref`` (an id), or None when it is gone."""
    info = engine.container(ref)
    return info["name"] if info else None

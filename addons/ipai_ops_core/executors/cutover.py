"""The one way an environment changes what it serves (a build, a staging
copy, a production deploy or first deploy, a rollback, a restore):

    with cutover.Switch(spec, engine, reporter) as switch:
        dbname = switch.database(name)      # a database this side creates
        ...                                 # make it: copy, install, neutralize ...
        switch.stop_old("why")              # only when the new one needs the data
        switch.go_live(image, dbname, {...})

``go_live`` starts the new container on the environment's network, at the
serving address the old one does not hold, while the old one keeps
serving, waits until it answers *and* opens its own database, points
the front door (nginx, services/nginx.py) at it and waits until the
previous nginx workers finished the requests they held, records it on the
environment, then retires the old container (and the old database, unless
it stays as the previous one). A switch that needs the old container
stopped (``stop_old``: its database is copied) puts the maintenance page up
first; one that stops it for seconds only (``hold``: a database moved onto
another server) holds the requests in a relay instead, and they go on to
the new container once it answers. Anything that fails before ``go_live``
recorded the switch undoes
this side: the new container goes, every database it registered is dropped
with its filestore, an old container that was stopped is started again and
waited for, and the front door serves it again. After that, nothing is
undone.

On a swarm host the new container is a unit (executors/swarm_unit.py,
healthy by Swarm's own health check) and the switch is the gateway's: the
environment's sockets lead to the new unit (executors/swarm_doors.py);
nginx's upstreams are those sockets and stay the same.
"""

import contextlib

from ..services import env_log, env_network, hold_relay, http_health, nginx, runtime
from . import guard, network, node_files, odoo_steps, paths, runtime_image, swarm_doors, swarm_unit
from .base import RunCanceled, RunFailed

DRAIN_TIMEOUT = 10  # seconds the old container finishes what it holds after the proxy switched

CRON_TIME_REAL = 300  # seconds a scheduled action may run, at least

# Inside the container: the environment's data directory (odoo_steps.volumes).
# The platform keeps, rotates and indexes it (services/env_log.py).
LOGFILE = "/var/lib/odoo/logs/odoo.log"


def runtime_args(spec):
    """Odoo's server options from the environment's runtime settings
    (models/ops_environment_runtime.py): prefork with HTTP and cron workers
    and a gevent port in production and staging, one threaded process in
    development; behind the proxy (proxy_mode) everywhere."""
    runtime = spec.get("runtime") or {"workers": 0, "cron_threads": 0}
    args = ["--proxy-mode", "--workers", str(runtime["workers"]), "--max-cron-threads", str(runtime["cron_threads"])]
    if runtime["workers"]:
        args += ["--gevent-port", str(env_network.GEVENT_PORT)]
    else:
        args += ["--gevent-port", "0"]
    for option, key, scale in (("--limit-memory-soft", "limit_memory_soft_mb", 1024 * 1024),
                               ("--limit-memory-hard", "limit_memory_hard_mb", 1024 * 1024),
                               ("--limit-time-cpu", "limit_time_cpu", 1), ("--limit-time-real", "limit_time_real", 1)):
        if runtime.get(key):
            args += [option, str(runtime[key] * scale)]
    # A cron worker waits up to a minute between polls, and its watchdog
    # follows limit_time_real unless told otherwise: with a short request
    # limit it would be killed while it sleeps. Scheduled actions get at
    # least CRON_TIME_REAL seconds.
    if runtime.get("cron_threads") and runtime.get("limit_time_real"):
        args += ["--limit-time-real-cron", str(max(runtime["limit_time_real"], CRON_TIME_REAL))]
    return args


def serve_command(spec, dbname):
    """Odoo's server for ``dbname``, in its own network namespace: the same
    ports in every container, on every address of its network."""
    return ["-d", dbname, "--db-filter", "^%s$" % dbname, "--http-interface", "0.0.0.0",
            "--http-port", str(env_network.HTTP_PORT), "--log-level", "info", "--logfile", LOGFILE,
            *runtime_args(spec)]


def _log_tail(spec, engine, ref, reporter):
    """What a server that did not answer said: before its logging started (the engine), then its log file."""
    live_dir, store_dir = paths.log_dirs(spec["filestore_root"], spec["project_slug"], spec["environment_id"])
    if node_files.on_own_disk(spec):  # its log file is on that node's disk: taken into the platform's copy first
        with contextlib.suppress(RunFailed):
            node_files.pull_log(spec, engine, spec["node"])
    for line in (engine.logs(ref, tail=20) if ref else []) + env_log.EnvLog(live_dir, store_dir).tail(40):
        reporter.log("error", line)


def start(spec, engine, image, dbname, reporter):
    """Start the environment's container for ``dbname`` on its network (at
    the serving address the current container does not hold) and wait
    until it answers /web/login and opens ``dbname``. Returns (container
    id, its address, its internal URL); removes the container and raises
    RunFailed when it does not answer. On a swarm host (swarm_unit): (unit
    id, its name, None)."""
    if swarm_doors.is_swarm(spec):
        try:
            unit_id, name = swarm_unit.start(spec, engine, image, dbname, serve_command(spec, dbname), reporter)
        except RunFailed:
            _log_tail(spec, engine, None, reporter)
            raise
        reporter.log("info", "Healthy: unit %s serves %s" % (name, dbname))
        return unit_id, name, None
    net = network.ensure(spec, engine, reporter)
    address = env_network.serve_address(net, avoid=(spec.get("current") or {}).get("container_ip"))
    url = "http://%s:%d" % (address, env_network.HTTP_PORT)
    name = odoo_steps.container_name(spec, "serve")
    container_id = engine.start(
        image, serve_command(spec, dbname), name, odoo_steps.labels(spec, "serve"),
        volumes=odoo_steps.volumes(spec, engine, reporter), network=net["name"], ip=address,
        environment=network.container_environment(spec),
        mem_limit=spec.get("mem_limit"), nano_cpus=spec.get("nano_cpus"),
        # Back by itself after a restart of the Docker daemon or the host.
        restart_policy={"Name": "unless-stopped"},
    )
    reporter.log("info", "Started container %s on network %s at %s; waiting for /web/login" % (name, net["name"], url))

    def alive():
        info = engine.container(container_id)
        return bool(info and info["status"] in ("created", "running"))

    try:
        waited = http_health.wait_until_healthy(url, "/web/login", timeout=spec.get("health_timeout", 180),
                                                is_alive=alive, database=dbname)
        if (spec.get("runtime") or {}).get("workers"):
            # Prefork: the websocket (gevent) process starts a moment after the HTTP workers.
            waited += http_health.wait_until_healthy("http://%s:%d" % (address, env_network.GEVENT_PORT),
                                                     "/web/health", timeout=60, is_alive=alive)
    except TimeoutError as exc:
        _log_tail(spec, engine, container_id, reporter)
        guard.remove_container(engine, spec, container_id)
        raise RunFailed("The environment did not become healthy: %s" % exc) from exc
    reporter.log("info", "Healthy after %.1fs: %s serves %s" % (waited, url, dbname))
    return container_id, address, url


class Switch:
    def __init__(self, spec, engine, reporter):
        self.spec, self.engine, self.reporter = spec, engine, reporter
        self.current = spec.get("current") or {}
        self.created = []  # (database, whether its filestore is this side's too)
        self.before_restart = []  # what puts the old container's world back before it starts again
        self.new_container = None
        self.old_stopped = False
        self.proxy_touched = False
        self.relays = []  # hold(): where the front door's requests wait
        self.proxy_back_values = {"maintenance": False}  # what the front door serves again when undone
        self.gateway_switched = False  # swarm: the environment's sockets lead to the new unit
        self.live = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _tb):
        if exc_type is None or self.live:
            self._close_relays()
            return False
        try:
            brought_back = self._undo(exc)
        finally:
            self._close_relays()
        if brought_back and isinstance(exc, RunFailed) and not isinstance(exc, RunCanceled):
            raise RunFailed("%s; rolled back automatically: %s" % (exc, brought_back), exc.exit_code) from exc
        return False

    def database(self, dbname, filestore=True):
        """Register a database this side is about to create (a retried
        attempt's leftover of the same name is dropped first). ``filestore``
        False: the database's filestore is not this side's (a database moved
        to another server under the same name keeps the one it has)."""
        guard.drop_database(self.spec, dbname)
        if filestore:
            node_files.remove_filestore(self.spec, self.engine, dbname)
        self.created.append((dbname, filestore))
        return dbname

    def stop_old(self, why):
        """Stop the current container to copy its database (the downtime
        starts here: the front door shows the maintenance page); it comes
        back if this side fails."""
        container = self.current.get("container_id")
        if container and not self.old_stopped:
            self.reporter.log("info", why)
            self._proxy({"maintenance": True}, "Could not put the maintenance page up")  # recorded
            self.reporter.log("info", "Maintenance page up")
            self.engine.stop(container)
            self.old_stopped = True

    def hold(self, why):
        """Stop the current container with no request failing: the front
        door sends requests to relays on the loopback that hold them
        (services/hold_relay.py), the current container finishes those
        nginx's previous workers sent it, then stops. ``go_live`` lets the
        held requests through to the new container; an undo to the old one.
        For a pause of seconds (nginx waits up to its proxy_read_timeout):
        longer ones take ``stop_old`` and its maintenance page."""
        container = self.current.get("container_id")
        if not container or self.old_stopped:
            return
        if swarm_doors.is_swarm(self.spec):
            # no loopback of the host that a swarm unit reaches the held requests from
            self.stop_old(why + " (on a swarm host: with the maintenance page)")
            return
        self.reporter.log("info", why)
        gevent = bool((self.spec.get("runtime") or {}).get("workers"))
        self.relays = [hold_relay.HoldRelay()] + ([hold_relay.HoldRelay()] if gevent else [])
        self.proxy_back_values = {
            "maintenance": False, "container_ip": self.current.get("container_ip") or False,
            "port": env_network.HTTP_PORT, "gevent_port": env_network.GEVENT_PORT if gevent else 0}
        self._proxy({"container_ip": "127.0.0.1", "port": self.relays[0].port,
                     "gevent_port": self.relays[-1].port if gevent else 0},
                    "Could not point the front door at the relay holding requests", drain_timeout=DRAIN_TIMEOUT)
        self.reporter.log("info", "Requests wait in the relay (loopback ports %s) from now on" % ", ".join(
            str(relay.port) for relay in self.relays))
        self.engine.stop(container)
        self.old_stopped = True

    def _release(self, address):
        """The held requests go to ``address`` (a container on the environment's network)."""
        if self.relays:
            ports = (env_network.HTTP_PORT, env_network.GEVENT_PORT)
            for relay, port in zip(self.relays, ports, strict=False):
                relay.release(address, port)
            self.reporter.log("info", "Released %d held request(s) to %s" % (
                sum(relay.held for relay in self.relays), address))

    def _close_relays(self):
        for relay in self.relays:
            relay.close()
        self.relays = []

    def _proxy(self, values, what, drain_timeout=0):
        self.proxy_touched = True
        try:
            return self.reporter.apply_proxy(values, drain_timeout=drain_timeout)
        except nginx.NginxError as exc:
            raise RunFailed("%s: %s" % (what, exc)) from exc

    def go_live(self, image, dbname, values=None, retire_database=True):
        """Serve ``dbname`` with ``image``, point the environment at it,
        retire the old container and (``retire_database``) its database.
        Returns (container id, the environment's URL)."""
        spec = self.spec
        container_id, address, url = start(spec, self.engine, image, dbname, self.reporter)
        self.new_container = container_id
        gevent_port = env_network.GEVENT_PORT if (spec.get("runtime") or {}).get("workers") else 0
        if swarm_doors.is_swarm(spec):
            # The switch itself: the gateway sends the environment's next
            # connections to the new unit (``address`` is its name); nginx's
            # upstreams, the sockets, stay the same.
            self.gateway_switched = True
            where = {"upstream_socket": swarm_doors.serve(spec, self.engine, address)["http"],
                     "internal_url": False, "container_ip": False, "swarm_node": spec.get("node") or False,
                     "node_lost": False}
            self.reporter.log("info", "The gateway leads %s's sockets to unit %s" % (swarm_doors.key(spec), address))
        else:
            self._release(address)
            where = {"internal_url": url, "container_ip": address}
        # Recorded and loaded together: the proxy sends new requests to the
        # new container; the old one finishes those it holds (the previous
        # nginx workers drain) before it goes.
        loaded = self._proxy(dict({
            "state": "running", "url": spec.get("public_url") or url or False, **where,
            "port": env_network.HTTP_PORT, "network_name": spec["network"]["name"],
            "network_subnet": spec["network"]["subnet"],
            "container_id": container_id, "database_name": dbname, "maintenance": False,
            "host": spec.get("host") or False, "db_role": spec["db_role"], "gevent_port": gevent_port,
            **runtime_image.environment_values(self.engine, image)},
            **(values or {})), "The proxy did not switch to the new container", drain_timeout=DRAIN_TIMEOUT)
        self.live = True
        self._close_relays()
        self.reporter.log("info", "The proxy serves %s from %s: traffic on the new container %.2fs after it "
                          "answered (nginx %s)" % (spec.get("public_url") or url, url or where["upstream_socket"],
                                                   loaded["seconds"], loaded["status"]))
        old_container, old_db = self.current.get("container_id"), self.current.get("database_name")
        if self.gateway_switched and old_container and old_container != container_id:
            # nginx need not reload (the same sockets), so its drain holds nothing: the requests
            # the gateway still has at the old unit end before it goes, and its database
            held = swarm_doors.drain(spec, self.engine, address, DRAIN_TIMEOUT)
            if held:
                self.reporter.log("warning", "%d request(s) still at the old unit after %ds: it goes now"
                                  % (held, DRAIN_TIMEOUT))
        if old_container and old_container != container_id:
            # nothing waits for it to be gone (on a swarm, its Odoo stops after the run)
            guard.remove_container(self.engine, spec, old_container, wait=False)
        if retire_database and old_db and old_db != dbname:
            guard.drop_database(spec, old_db)
            node_files.remove_filestore(spec, self.engine, old_db)
        return container_id, spec.get("public_url") or url or False

    def _undo(self, exc):
        """This side failed: remove what it made, bring the old one back.
        Returns a sentence when an old container serves again."""
        spec = self.spec
        self.reporter.log("error", "%s; undoing this run's changes" % (str(exc) or type(exc).__name__))
        if self.new_container:
            guard.remove_container(self.engine, spec, self.new_container)
        for dbname, own_filestore in self.created:
            guard.drop_database(spec, dbname)
            if own_filestore:
                node_files.remove_filestore(spec, self.engine, dbname)
        if swarm_doors.is_swarm(spec):
            return self._undo_unit()
        if not self.old_stopped:
            self._proxy_back()
            return None
        old_db, old_url = self.current.get("database_name"), self.current.get("internal_url")
        for step in self.before_restart:
            step()
        self.engine.start_existing(self.current["container_id"])
        if not old_url:
            self._proxy_back()
            return "the previous container was started again"
        try:
            http_health.wait_until_healthy(old_url, "/web/login", timeout=120, database=old_db)
        except TimeoutError as err:
            self.reporter.log("error", "The previous container did not answer again: %s" % err)
            self._proxy_back()
            return "the previous container was started again but does not answer (%s)" % err
        if self.current.get("container_ip"):
            self._release(self.current["container_ip"])
        self._proxy_back()
        self.reporter.log("info", "The previous container serves %s again" % old_db)
        return "the previous container serves %s again" % old_db

    def _undo_unit(self):
        """The swarm side of ``_undo``: the old unit (started again, healthy
        once Swarm says it runs) gets the environment's sockets back."""
        old, old_db = self.current.get("container_id"), self.current.get("database_name")
        name = old and swarm_unit.name_of(self.engine, old)
        if not name:
            self._proxy_back()
            return None
        try:
            if self.old_stopped:
                for step in self.before_restart:
                    step()
                self.engine.start_existing(old)
            if self.old_stopped or self.gateway_switched:
                swarm_doors.serve(self.spec, self.engine, name)
        except (RunFailed, runtime.RuntimeFailure) as err:
            self.reporter.log("error", "The previous unit does not serve again: %s" % err)
            self._proxy_back()
            return "the previous unit does not serve again (%s)" % err
        self._proxy_back()
        if not self.old_stopped:
            return None
        self.reporter.log("info", "The previous unit serves %s again" % old_db)
        return "the previous unit serves %s again" % old_db

    def _proxy_back(self):
        """The front door as the environment's record says (the old
        container, no maintenance page)."""
        if not self.proxy_touched:
            return
        try:
            self.reporter.apply_proxy(self.proxy_back_values, drain_timeout=DRAIN_TIMEOUT if self.relays else 0)
        except nginx.NginxError as err:
            self.reporter.log("error", "The proxy could not be set back (the reconciliation cron retries): %s" % err)

"""Steps shared by the executors that put a database online: where an
environment's files live, running Odoo in the environment's image (one-shot
commands such as ``neutralize``), and starting the environment's container
and waiting until it answers."""

import os

from ..services import docker_engine, http_health, naming
from . import credentials, guard
from .base import RunFailed

ODOO_UID = credentials.ODOO_UID


def labels(spec, role=None):
    return docker_engine.labels_for(spec["namespace"], spec["project_slug"], spec["environment_id"], spec["run_id"],
                                    role)


def container_name(spec, what):
    return naming.container_name(spec["namespace"], what, spec["environment_id"], spec["run_id"])


def env_filestore(spec):
    """The environment's data directory (mounted as /var/lib/odoo)."""
    path = os.path.join(spec["filestore_root"], spec["project_slug"], "env-%d" % spec["environment_id"])
    os.makedirs(os.path.join(path, "filestore"), exist_ok=True)
    for folder in (path, os.path.join(path, "filestore")):
        os.chown(folder, ODOO_UID, ODOO_UID)
    return path


def db_filestore(spec, dbname):
    """The filestore of one of the environment's databases."""
    return os.path.join(env_filestore(spec), "filestore", naming.validate_db_name(dbname))


def volumes(spec):
    """The environment's data directory and its configuration file (which
    holds its credentials: they never appear on a command line)."""
    return {env_filestore(spec): {"bind": "/var/lib/odoo", "mode": "rw"}, **credentials.config_volume(spec)}


def run_odoo(spec, engine, image, command, what, reporter, on_line=None, **kwargs):
    """A one-shot Odoo command in the environment's image, as the
    environment's role; returns (exit code, last lines)."""
    kwargs.setdefault("volumes", volumes(spec))
    kwargs.setdefault("network_mode", spec.get("network_mode", "host"))
    return engine.run_to_completion(image, command, container_name(spec, what), labels(spec, what),
                                    on_line=on_line or (lambda line: reporter.log("debug", line)), **kwargs)


def neutralize(spec, engine, image, dbname, reporter):
    """``odoo neutralize`` in the environment's image (so it matches that
    Odoo version): crons off but autovacuum, mail servers off, payment
    providers in test mode, ``database.is_neutralized`` set."""
    reporter.log("info", "Neutralizing %s with odoo neutralize" % dbname)
    exit_code, tail = run_odoo(spec, engine, image, ["neutralize", "-d", dbname], "neutralize", reporter)
    if exit_code != 0:
        raise RunFailed("odoo neutralize failed (exit code %d): %s" % (exit_code, " | ".join(tail[-5:])))


def secure_admin(spec, dbname, reporter, only_if_default=False):
    """The environment's own administrator password on ``dbname`` (see
    credentials.secure_admin); says so in the log when it changed."""
    changed = credentials.secure_admin(spec, dbname, only_if_default=only_if_default)
    if changed and only_if_default:
        reporter.log("warning", "The administrator of %s still had Odoo's default password; it now has a random "
                                "one kept by the platform" % dbname)
        reporter.environment_message(
            "The administrator password of %s was Odoo's default (admin): it was replaced by a random password "
            "kept by the platform." % dbname)
    return changed


def serve(spec, engine, image, dbname, port, reporter):
    """Start the environment's container on ``port`` for ``dbname`` and wait
    for /web/login. Returns (container id, url); removes the container and
    raises RunFailed when it does not become healthy."""
    url = "http://127.0.0.1:%d" % port
    name = container_name(spec, "serve")
    command = ["-d", dbname, "--db-filter", "^%s$" % dbname, "--http-interface", "127.0.0.1",
               "--http-port", str(port), "--gevent-port", "0", "--max-cron-threads", "0", "--log-level", "info"]
    container_id = engine.start(
        image, command, name, labels(spec, "serve"),
        volumes=volumes(spec), network_mode=spec.get("network_mode", "host"), ports={port: port},
        mem_limit=spec.get("mem_limit"), nano_cpus=spec.get("nano_cpus"),
    )
    reporter.log("info", "Started container %s on %s; waiting for /web/login" % (name, url))

    def alive():
        info = engine.container(container_id)
        return bool(info and info["status"] in ("created", "running"))

    try:
        waited = http_health.wait_until_healthy(url, "/web/login", timeout=spec.get("health_timeout", 180),
                                                is_alive=alive, database=dbname)
    except TimeoutError as exc:
        for line in engine.logs(container_id, tail=40):
            reporter.log("error", line)
        guard.remove_container(engine, spec, container_id)
        raise RunFailed("The environment did not become healthy: %s" % exc) from exc
    reporter.log("info", "Healthy after %.1fs: %s serves %s" % (waited, url, dbname))
    return container_id, url

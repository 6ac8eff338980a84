"""Steps shared by the executors that put a database online: Odoo's own
``neutralize`` run inside the environment's image, and starting the
environment's container and waiting until it answers."""

import os

from ..services import docker_engine, http_health
from .base import RunFailed

ODOO_UID = 101  # user odoo in the runtime image (official layout)


def labels(spec, role=None):
    return docker_engine.labels_for(spec["namespace"], spec["project_slug"], spec["environment_id"], spec["run_id"],
                                    role)


def db_args(spec):
    db = spec["db"]
    return ["--db_host", db["host"], "--db_port", str(db["port"]),
            "--db_user", spec["db_role"], "--db_password", spec["db_role_password"]]


def env_filestore(spec):
    """The environment's data directory (mounted as /var/lib/odoo)."""
    path = os.path.join(spec["filestore_root"], spec["project_slug"], "env-%d" % spec["environment_id"])
    os.makedirs(os.path.join(path, "filestore"), exist_ok=True)
    for folder in (path, os.path.join(path, "filestore")):
        os.chown(folder, ODOO_UID, ODOO_UID)
    return path


def volumes(spec):
    return {env_filestore(spec): {"bind": "/var/lib/odoo", "mode": "rw"}}


def mail_args(mail):
    """Odoo's command-line SMTP settings pointing at the mail catcher."""
    if not mail:
        return []
    return ["--smtp", mail["host"], "--smtp-port", str(mail["port"]), "--smtp-user", mail["user"],
            "--smtp-password", mail["password"]]


def neutralize(spec, engine, image, dbname, reporter):
    """``odoo neutralize`` in the environment's image (so it matches that
    Odoo version): crons off but autovacuum, mail servers off, payment
    providers in test mode, ``database.is_neutralized`` set."""
    reporter.log("info", "Neutralizing %s with odoo neutralize" % dbname)
    exit_code, tail = engine.run_to_completion(
        image, ["neutralize", "-d", dbname, *db_args(spec)],
        "ipai-ops-neutralize-%s-%d" % (spec["project_slug"], spec["run_id"]), labels(spec, "neutralize"),
        on_line=lambda line: reporter.log("debug", line), volumes=volumes(spec),
        network_mode=spec.get("network_mode", "host"),
    )
    if exit_code != 0:
        raise RunFailed("odoo neutralize failed (exit code %d): %s" % (exit_code, " | ".join(tail[-5:])))


def serve(spec, engine, image, dbname, port, reporter, name=None, extra_args=()):
    """Start the environment's container on ``port`` for ``dbname`` and wait
    for /web/login. Returns (container id, url); removes the container and
    raises RunFailed when it does not become healthy."""
    url = "http://127.0.0.1:%d" % port
    name = name or "ipai-ops-%s-env%d-run%d" % (spec["project_slug"], spec["environment_id"], spec["run_number"])
    command = ["-d", dbname, "--db-filter", "^%s$" % dbname, *db_args(spec), "--http-interface", "127.0.0.1",
               "--http-port", str(port), "--gevent-port", "0", "--max-cron-threads", "0", "--log-level", "info",
               *extra_args]
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
                                                is_alive=alive)
    except TimeoutError as exc:
        for line in engine.logs(container_id, tail=40):
            reporter.log("error", line)
        engine.remove_container(container_id)
        raise RunFailed("The environment did not become healthy: %s" % exc) from exc
    reporter.log("info", "Healthy after %.1fs: %s" % (waited, url))
    return container_id, url

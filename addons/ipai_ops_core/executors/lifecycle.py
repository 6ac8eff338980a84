"""Stop, start and destroy an environment (container, database, filestore)."""

import shutil

from ..services import http_health, naming, nginx, postgres, runtime
from . import cutover, guard, network, node_files, paths, swarm_doors
from .base import RunFailed


def _record(reporter, values):
    """Record the environment's new state and show it at the front door
    (the stopped page, the environment again, nothing): a proxy that
    refuses is said in the log and set right by the reconciliation cron."""
    reporter.update_environment(values)
    try:
        reporter.apply_proxy()
    except nginx.NginxError as exc:
        reporter.log("warning", "The proxy was not updated (the reconciliation cron retries): %s" % exc)


def stop(spec, reporter, engine=None):
    engine = engine or runtime.for_spec(spec)
    container = (spec.get("current") or {}).get("container_id")
    if not container or not engine.stop(container):
        raise RunFailed("The environment has no container to stop.")
    _record(reporter, {"state": "stopped"})
    return {"exit_code": 0, "result": "ok", "message": "Stopped"}


def start(spec, reporter, engine=None):
    engine = engine or runtime.for_spec(spec)
    current = spec.get("current") or {}
    container = current.get("container_id")
    info = engine.container(container) if container else None
    if info and info["network_mode"] == "host":
        # Made before environments had networks of their own: started again
        # on its network instead, never on the host's.
        return recreate(spec, reporter, engine)
    if not container or not engine.start_existing(container):
        raise RunFailed("The environment has no container to start; rebuild it.")
    # Started means answering, not only created.
    if current.get("internal_url") and current.get("database_name"):
        try:
            waited = http_health.wait_until_healthy(current["internal_url"], "/web/login",
                                                    timeout=spec.get("health_timeout", 180),
                                                    database=current["database_name"])
        except TimeoutError as exc:
            raise RunFailed("The environment's container started but does not answer: %s" % exc) from exc
        reporter.log("info", "Answering after %.1fs" % waited)
    _record(reporter, {"state": "running"})
    return {"exit_code": 0, "result": "ok", "message": "Started"}


def recreate(spec, reporter, engine=None):
    """A new container of the environment from the image and on the database
    it serves now, with today's settings (its own network, its runtime),
    switched in like a build (executors/cutover.py): the URL keeps answering,
    the old container goes once the new one serves. How environments made
    on the host's network move to their own (module update queues it)."""
    engine = engine or runtime.for_spec(spec)
    current = spec.get("current") or {}
    info = engine.container(current["container_id"]) if current.get("container_id") else None
    image = (info or {}).get("image") or current.get("image_digest")
    if not current.get("database_name") or not image or not engine.image_id(image):
        raise RunFailed("The environment has no image and database to run again; rebuild it.")
    moved = bool(info and info["network_mode"] == "host")
    with cutover.Switch(spec, engine, reporter) as switch:
        container, url = switch.go_live(image, current["database_name"], retire_database=False)
    message = "Recreated on network %s: %s" % (spec["network"]["name"], url)
    if moved:
        reporter.environment_message("Moved off the host's network to a network of its own (%s, %s): its code "
                                     "reaches its database%s and nothing else of the platform." % (
                                         spec["network"]["name"], spec["network"]["subnet"],
                                         "" if spec.get("stage") == "production" else " and the mail catcher"))
    return {"exit_code": 0, "result": "ok", "message": message, "container_id": container}


def move(spec, reporter, engine=None):
    """An environment of a swarm host to another node (``spec["node"]``,
    the run's): a new unit there from the image and on the database it
    serves now, switched in like a redeploy (the URL keeps answering), the
    old unit removed. Its data directory is the platform's, the same path
    on every node that shares it; to or from a node with a disk of its own
    it is copied (executors/node_files.py). A stopped environment is
    stopped again once its new unit has started there (``stay_stopped``):
    it moves, it does not start."""
    if not swarm_doors.is_swarm(spec):
        raise RunFailed("Only environments of a swarm host move between nodes.")
    engine = engine or runtime.for_spec(spec)
    source = (spec.get("current") or {}).get("swarm_node")
    was = source or "the manager's node"
    copying = node_files.own_disk(spec, source) or node_files.own_disk(spec, spec["node"])
    if copying:
        node_files.copy_env_dir(spec, engine, source or engine.own_node(), spec["node"], reporter)
    made = recreate(spec, reporter, engine)
    if copying:  # what the old unit stored until the switch; then nothing of it left behind
        node_files.copy_env_dir(spec, engine, source or engine.own_node(), spec["node"], reporter, part="filestore")
        node_files.leave_node(spec, engine, source or engine.own_node(), reporter)
    message = "Moved from node %s to node %s" % (was, spec["node"])
    if spec.get("stay_stopped"):
        engine.stop(made["container_id"])
        _record(reporter, {"state": "stopped"})
        message += ", stopped as it was"
    reporter.environment_message(message + ".")
    return {"exit_code": 0, "result": "ok", "message": message}


def destroy(spec, reporter, engine=None):
    """Remove everything the environment owns: containers, database, filestore,
    images beyond the last ``keep_images`` for rollback."""
    engine = engine or runtime.for_spec(spec)
    labels = {"ipai-ops.plane": spec["namespace"], "ipai-ops.project": spec["project_slug"],
              "ipai-ops.environment": str(spec["environment_id"])}
    removed = 0
    for container in engine.containers(labels):
        removed += engine.remove_container(container["id"])
    network.teardown(spec, engine, reporter)
    current = spec.get("current") or {}
    # Its current and previous databases, and the copy its last restore drill verified.
    for name in (current.get("database_name"), current.get("previous_database_name"),
                 naming.verified_copy_name(spec["namespace"], spec["environment_id"])):
        guard.drop_database(spec, name)
    node_files.remove_env_dir(spec, reporter)  # on a node's own disk
    shutil.rmtree(paths.env_dir(spec, create=False), ignore_errors=True)
    shutil.rmtree(paths.log_dirs(spec["filestore_root"], spec["project_slug"], spec["environment_id"])[1],
                  ignore_errors=True)
    shutil.rmtree(paths.config_dir(spec), ignore_errors=True)
    images = engine.images(labels)
    for image in images:
        engine.remove_image(image["id"])
    # The environment's role goes with its last database (a role that still
    # owns something is kept, and says so in the log).
    try:
        postgres.drop_role(spec["db"], spec["db_role"])
    except postgres.PostgresError as exc:
        reporter.log("warning", "Database role %s kept: %s" % (spec["db_role"], exc))
    reporter.log("info", "Removed %d containers, database %s, filestore, %d images, role %s" % (
        removed, current.get("database_name") or "-", len(images), spec["db_role"]))
    _record(reporter, {"state": "destroyed", "container_id": False, "url": False, "internal_url": False,
                       "port": 0, "gevent_port": 0, "container_ip": False, "network_name": False,
                       "network_subnet": False, "maintenance": False, "database_name": False,
                       "previous_database_name": False, "db_role": False, "upstream_socket": False})
    return {"exit_code": 0, "result": "ok", "message": "Destroyed"}

"""What a lost attempt of a run leaves behind, removed in one step.

Used when a run starts its second (or later) attempt, so it starts clean,
and by the reaper the moment it decides a run whose worker went quiet.
Everything a run makes carries its id: containers (the ``ipai-ops.run``
label), databases (``<namespace>_<environment>_<run>_...``, drill scratch
databases ``drill_<namespace>_<run>``), work and secret directories
(``run-<id>...``). The environment's current and previous database and its
current container are never touched, whatever run made them.

The spec here is the reduced one of ``ops.run._ops_leftover_spec``: no port
is reserved and no credential is made to clean up.
"""

import glob
import os
import shutil

from ..services import naming, postgres, runtime
from . import guard, paths


def _run_databases(spec):
    prefix = "%s_%d_%d" % (spec["namespace"], spec["environment_id"], spec["run_id"])
    names = [name for name in postgres.list_databases(spec["db"], prefix) if name == prefix or
             name.startswith(prefix + "_")]
    drill = naming.drill_db_name(spec["namespace"], spec["run_id"])
    if postgres.database_exists(spec["db"], drill):
        names.append(drill)
    return names


def remove_leftovers(spec, engine=None, log=None):
    """Stop and remove the run's containers, drop its databases (and their
    filestores), remove its directories. Returns what was removed."""
    log = log or (lambda message: None)
    current = spec.get("current") or {}
    keep_dbs = {current.get("database_name"), current.get("previous_database_name")} - {None}
    removed = {"containers": [], "databases": [], "directories": []}
    engine = engine or runtime.for_spec(spec)
    labels = {runtime.LABEL_PREFIX + "plane": spec["namespace"],
              runtime.LABEL_PREFIX + "run": str(spec["run_id"])}
    for container in engine.containers(labels):
        if container["id"] != current.get("container_id") and guard.remove_container(engine, spec, container["id"]):
            removed["containers"].append(container["name"])
    for name in _run_databases(spec):
        if name in keep_dbs:
            continue
        if guard.drop_database(spec, name):
            removed["databases"].append(name)
        shutil.rmtree(paths.db_filestore(spec, name, create_env_dir=False), ignore_errors=True)
    for pattern in paths.run_dir_patterns(spec):
        for path in glob.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
            removed["directories"].append(path)
    if any(removed.values()):
        log("Removed what an earlier attempt left: %s" % "; ".join(
            "%s: %s" % (kind, ", ".join(os.path.basename(v) for v in values)) for kind, values in removed.items()
            if values))
    return removed

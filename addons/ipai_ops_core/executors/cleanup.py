"""What a lost attempt of a run leaves behind, removed in one step.

Used when a run starts its second (or later) attempt, so it starts clean,
and by the reaper the moment it decides a run whose worker went quiet.
Everything a run makes carries its id: containers (the ``ipai-ops.run``
label), databases (``<namespace>_<environment>_<run>_...``, drill scratch
databases ``drill_<namespace>_<run>``), work and secret directories
(``run-<id>...``). The environment's current and previous database and its
current container are never touched, whatever run made them.

The spec here is the reduced one of ``ops.run._ops_leftover_spec``: no port
is reserved and no credential is made to clean up. An environment whose
files are on a node's own disk (executors/node_files.py) has its lost
databases' filestores there, and maybe the run's copy of its tools
(executors/node_jobs.py): both are removed through that node's engine; a
node that does not answer keeps them (said in the log: the collector's
sweep of the node takes the tools' copy later, the filestores go with the
environment's directory).
"""

import glob
import os
import shutil

from ..services import naming, postgres, runtime
from . import guard, node_files, node_jobs, paths
from .base import RunFailed


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
    names, on_node = [name for name in _run_databases(spec) if name not in keep_dbs], node_files.on_own_disk(spec)
    for name in names:
        if guard.drop_database(spec, name):
            removed["databases"].append(name)
        if not on_node:
            shutil.rmtree(paths.db_filestore(spec, name, create_env_dir=False), ignore_errors=True)
    if on_node:
        _remove_on_node(spec, engine, names, log)
    for pattern in paths.run_dir_patterns(spec):
        for path in glob.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
            removed["directories"].append(path)
    if any(removed.values()):
        log("Removed what an earlier attempt left: %s" % "; ".join(
            "%s: %s" % (kind, ", ".join(os.path.basename(v) for v in values)) for kind, values in removed.items()
            if values))
    return removed


def _remove_on_node(spec, engine, dbnames, log):
    """The lost databases' filestores and the run's copy of its tools, gone
    from the own disk of the node that keeps the environment's files."""
    try:
        node_files.remove_filestores(spec, engine, dbnames)
        node_jobs.remove_run_tools(spec, engine, spec["node"])
    except (RunFailed, runtime.RuntimeFailure) as exc:
        log("What the earlier attempt left on node %s stays there for now: %s" % (spec["node"], exc))

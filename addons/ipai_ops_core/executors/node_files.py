"""An environment's data directory between the nodes of a swarm host that
do not share a disk (ops.host.node.storage): a node with a disk of its own
keeps the data directories of the environments pinned to it there, and the
platform reaches them through that node's engine (its Docker endpoint),
never with a process of its own on the node.

A move to or from such a node copies the directory engine to engine
(services/docker_trees.py): once before the new unit starts (it starts on
its data), and the filestore once more after the switch, for the
attachments the old unit stored meanwhile (a filestore's files are named
by their content and never rewritten: the second pass adds, it changes
nothing the new unit wrote). The log is not copied: the platform keeps
it (services/env_log.py) and takes what a unit on such a node writes there
(log_puller) into its copy, every minute and before the unit leaves.

Every kind of run works there: a backup pulls the filestore from there, a
restore pushes it there; builds, deploys and upgrades copy or link their
filestores there (place_filestore, link_filestore) and run their Odoo
commands there as Swarm jobs (run_odoo_job: OpenUpgrade's scripts copied
there for the job, obfuscate's key a secret of it); a rollback and a
recreation are a new unit on files that are there already, as a move's
last step; a destroy removes them there (and the garbage collector what a
node kept while it did not answer: executors/node_sweep.py).
"""

import contextlib
import logging
import os
import shutil
import time

from ..services import env_log, filestore, naming, runtime, swarm_guard
from ..services.docker_trees import MissingTree
from ..services.runtime import RuntimeFailure
from ..services.swarm_cluster import NODE_LABEL
from . import network, node_sweep, odoo_steps, paths, swarm_images
from .base import RunFailed

# In a helper on the node, as the image's user (Odoo's, who owns the files):
# a database's filestore copied with hard links, or removed.
LINK_TREE = """import os, shutil, sys
src, dest = sys.argv[1:3]
shutil.rmtree(dest, ignore_errors=True)
if os.path.isdir(src):
    shutil.copytree(src, dest, copy_function=os.link)
else:
    os.makedirs(dest)
"""
REMOVE_TREE = "import shutil, sys\nshutil.rmtree(sys.argv[1], ignore_errors=True)\n"
REMOVE_STRICT = "import os, shutil, sys\nif os.path.lexists(sys.argv[1]):\n    shutil.rmtree(sys.argv[1])\n"
# (as services/filestore.tree_size: links not followed, a hard-linked file counted once per name)
TREE_SIZE = """import os, sys
total = 0
for folder, _dirs, names in os.walk(sys.argv[1]):
    for name in names:
        try:
            total += os.lstat(os.path.join(folder, name)).st_size
        except OSError:
            pass
print(total)
"""
# Emptied: what a node keeps of an environment that moved off its disk.
EMPTY_DIR = """import os, shutil, sys
for entry in os.scandir(sys.argv[1]):
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path, ignore_errors=True)
    else:
        os.unlink(entry.path)
"""
# Where a run's tools are copied on a node's own disk (_tools_on_node): beside the projects' folders of
# its data root, which no unit mounts (each mounts its own environment's directory), so that no
# environment's code can put a link where the platform copies as root.
TOOLS_ROOT = ".ipai-ops-tools"
LOG_NAME = "logs/" + env_log.LIVE  # in the data directory (executors/cutover.LOGFILE)
_logger = logging.getLogger(__name__)

def own_disk(spec, node):
    """Whether ``node`` keeps its environments' files on a disk of its own."""
    return (spec.get("node_storage") or {}).get(node) == "own"


def engine_of(spec, engine, node):
    """The engine whose machine has ``node``'s files: the node's own for a
    disk of its own, else the manager's (``engine``: the platform's data
    directory is the same directory there)."""
    if not own_disk(spec, node):
        return engine
    url = (spec.get("node_engines") or {}).get(node)
    if not url:
        raise RunFailed("Node %s keeps its environments' files on its own disk but has no Docker endpoint." % node)
    try:
        node_engine = runtime.connect(url, timeout=900)
    except RuntimeFailure as exc:
        raise RunFailed("The engine of node %s does not answer: %s" % (node, exc)) from exc
    swarm_images.copy_to_node(spec, engine, swarm_guard.IMAGE, node)  # its helpers' image, unless it is there
    return node_engine


def copy_env_dir(spec, engine, source, target, reporter, part=None):
    """Copy the environment's data directory (or its ``part``, a folder of
    it) from node ``source``'s disk to node ``target``'s. Returns the bytes
    streamed."""
    path = paths.env_dir(spec, create=False)
    if part:
        path = os.path.join(path, part)
    # (the engines first: the first one of a node may bring the helpers' image there, not part of the copy)
    source_engine, target_engine = engine_of(spec, engine, source), engine_of(spec, engine, target)
    started = time.monotonic()
    try:
        sent = source_engine.copy_tree(swarm_guard.IMAGE, path, target_engine, path, odoo_steps.labels(spec, "copy"),
                                       exclude=() if part else ("logs",))
    except MissingTree:
        if not part:
            raise RunFailed("%s has no data directory on node %s." % (spec.get("branch"), source)) from None
        reporter.log("info", "Nothing to copy: it has no %s on node %s" % (part, source))
        return 0
    except RuntimeFailure as exc:
        raise RunFailed("The data directory did not reach node %s: %s" % (target, exc)) from exc
    reporter.log("info", "Copied %s from node %s to node %s: %.1f MB in %.1f s" % (
        "its %s" % part if part else "the data directory", source, target, sent / 1e6, time.monotonic() - started))
    return sent


def leave_node(spec, engine, node, reporter):
    """After a move off ``node``'s disk, nothing of the environment left
    there: the platform's data directory loses the filestore (its log
    stays: the platform's copy); a node's own disk, once the last of the
    log is taken, everything."""
    if not own_disk(spec, node):
        shutil.rmtree(os.path.join(paths.env_dir(spec, create=False), "filestore"), ignore_errors=True)
        reporter.log("info", "Removed its filestore from node %s's disk" % node)
        return
    pull_log(spec, engine, node)
    _helper(spec, engine, EMPTY_DIR, ["/data"], "data removal", node=node)
    reporter.log("info", "Removed its data directory from node %s's disk" % node)


def remove_env_dir(spec, reporter):
    """A destroy on a node with a disk of its own: the environment's data
    directory gone from there (a node that does not answer keeps it until
    the garbage collector finds it answering again)."""
    node = on_own_disk(spec)
    if not node:
        return
    try:
        node_sweep.remove_dirs(node, (spec.get("node_engines") or {}).get(node), spec["filestore_root"],
                               [node_sweep.env_relative(spec["project_slug"], spec["environment_id"])],
                               odoo_steps.labels(spec, "sweep"), quiet=0)
    except RuntimeFailure as exc:
        reporter.log("warning", "Its data directory stays on node %s until the node answers (the garbage collector "
                                "removes it then): %s" % (node, exc))
        return
    reporter.log("info", "Removed its data directory from node %s's disk" % node)


def log_puller(connect, env_dir, labels):
    """services/env_log.EnvLog's ``pull`` for an environment whose files
    are on a node's own disk (``connect()``: that node's engine, called
    only when a take happens): the next piece of its Odoo log from there,
    or None (the node does not answer: its log waits there)."""

    def pull(last):
        try:
            return connect().take_file(swarm_guard.IMAGE, env_dir, LOG_NAME, last, labels)
        except RuntimeFailure as exc:
            _logger.warning("The log in %s could not be taken from its node: %s", env_dir, exc)
            return None

    return pull


def pull_log(spec, engine, node):
    """What the environment's unit logged on ``node``'s own disk, into the platform's copy."""
    live_dir, store_dir = paths.log_dirs(spec["filestore_root"], spec["project_slug"], spec["environment_id"])
    puller = log_puller(lambda: engine_of(spec, engine, node), os.path.dirname(live_dir),
                        odoo_steps.labels(spec, "log"))
    env_log.EnvLog(live_dir, store_dir, pull=puller).sync()


def on_own_disk(spec):
    """The run's node when it keeps the environment's files on its own disk, else None."""
    node = spec.get("node")
    return node if own_disk(spec, node) else None


def _helper(spec, engine, script, args, what, node=None, data=None, as_root=False):
    """``script`` (Python) with ``args`` in a helper container on the engine
    of ``node`` (default: the run's), directory ``data`` (default: the
    environment's data directory) at /data, as the image's user (Odoo's)
    or root; returns its last lines."""
    node, purpose = node or on_own_disk(spec), what.replace(" ", "-")
    code, tail = engine_of(spec, engine, node).run_to_completion(
        swarm_guard.IMAGE, list(args), odoo_steps.container_name(spec, purpose), odoo_steps.labels(spec, purpose),
        network="none", volumes={data or paths.env_dir(spec, create=False): {"bind": "/data", "mode": "rw"}},
        entrypoint=["python3", "-c", script], timeout=3600, **({"user": "0"} if as_root else {}))
    if code != 0:
        raise RunFailed("The %s on node %s failed (exit code %s): %s" % (what, node, code, " / ".join(tail[-3:])))
    return tail


def link_filestore(spec, engine, old_db, new_db):
    """Database ``new_db``'s filestore: ``old_db``'s, hard-linked, where the environment's files are."""
    if not on_own_disk(spec):
        return filestore.link_tree(paths.db_filestore(spec, old_db), paths.db_filestore(spec, new_db))
    _helper(spec, engine, LINK_TREE, ["/data/filestore/%s" % naming.validate_db_name(old_db),
                                      "/data/filestore/%s" % naming.validate_db_name(new_db)], "filestore copy")
    return None


def filestore_size(spec, engine, dbname):
    """Bytes of database ``dbname``'s filestore, where the environment keeps its files."""
    if not on_own_disk(spec):
        return filestore.tree_size(paths.db_filestore(spec, dbname))
    tail = _helper(spec, engine, TREE_SIZE, ["/data/filestore/%s" % naming.validate_db_name(dbname)], "filestore size")
    try:
        return int(tail[-1])
    except (IndexError, ValueError):
        raise RunFailed("The size of the filestore of %s on node %s could not be read: %s" % (
            dbname, spec["node"], " / ".join(tail[-3:]) or "no output")) from None


def remove_filestore(spec, engine, dbname):
    """Database ``dbname``'s filestore gone, where the environment's files are."""
    if not on_own_disk(spec):
        shutil.rmtree(paths.db_filestore(spec, dbname), ignore_errors=True)  # (the data directory made, as before)
        return
    _helper(spec, engine, REMOVE_TREE, ["/data/filestore/%s" % naming.validate_db_name(dbname)], "filestore removal")


def run_odoo_job(spec, engine, image, command, what, reporter, on_line=None, tools=None, secrets=None,
                 environment=None, entrypoint=None, mem_limit=None, nano_cpus=None, timeout=3600, **kwargs):
    """A one-shot Odoo command of an environment on a node with its own
    disk: a Swarm job placed there (services/swarm_jobs.py), with its
    unit's mounts and files (a plain container there could mount neither
    the platform's configuration file nor its addons for environments).
    ``tools`` (directories of the platform: OpenUpgrade's scripts) are
    copied onto the node's disk for this command and mounted read-only,
    ``secrets`` are Swarm secrets of the job (Odoo's user only), both gone
    with it. Returns (exit code, last lines)."""
    if kwargs.get("volumes"):
        raise RunFailed("%s: a command with mounts of its own does not run on node %s (it keeps its files on its "
                        "own disk)." % (what, spec["node"]))
    net = network.ensure(spec, engine, reporter)
    volumes, files = odoo_steps.unit_mounts(spec, engine, reporter)
    for target, value in (secrets or {}).items():
        files[target] = {"data": value, "secret": True, "uid": paths.ODOO_UID, "gid": paths.ODOO_UID, "mode": 0o400}
    node = on_own_disk(spec)
    swarm_images.copy_to_node(spec, engine, image, node, reporter)
    try:
        with _tools_on_node(spec, engine, node, tools or {}, volumes, reporter):
            reporter.log("info", "Running %s as a Swarm job on node %s" % (what, node))
            return engine.run_job(image, command, odoo_steps.container_name(spec, what), odoo_steps.labels(spec, what),
                                  net["name"], NODE_LABEL, node, files=files, volumes=volumes,
                                  environment=dict(network.container_environment(spec), **(environment or {})),
                                  mem_limit=mem_limit, nano_cpus=nano_cpus, entrypoint=entrypoint,
                                  on_line=on_line or (lambda line: reporter.log("debug", line)), timeout=timeout)
    except RuntimeFailure as exc:
        raise RunFailed("%s on node %s: %s" % (what, node, exc)) from exc


@contextlib.contextmanager
def _tools_on_node(spec, engine, node, tools, volumes, reporter):
    """Each of ``tools`` ({directory of the platform: path in the
    container}) copied into the run's folder of TOOLS_ROOT on ``node``'s
    disk and added to ``volumes`` read-only; the folder removed afterwards
    (a worker that dies meanwhile leaves it: nothing collects it yet)."""
    if not tools:
        yield
        return
    folder = "run-%d" % spec["run_id"]
    base = os.path.join(spec["filestore_root"], TOOLS_ROOT)
    started, sent = time.monotonic(), 0
    node_engine = engine_of(spec, engine, node)
    try:
        for number, (source, target) in enumerate(sorted(tools.items())):
            on_node = os.path.join(base, folder, str(number))
            sent += runtime.connect(timeout=900).copy_tree(swarm_guard.IMAGE, source, node_engine, on_node,
                                                           odoo_steps.labels(spec, "tools"))
            volumes[on_node] = {"bind": target, "mode": "ro"}
        reporter.log("info", "Copied %s to node %s: %.1f MB in %.1f s" % (
            ", ".join(os.path.basename(source) for source in sorted(tools)), node, sent / 1e6,
            time.monotonic() - started))
        yield
    finally:
        try:  # as root: the copy keeps the platform's owners
            _helper(spec, engine, REMOVE_STRICT, ["/data/%s" % folder], "tools removal", node=node, data=base,
                    as_root=True)
        except (RunFailed, RuntimeFailure) as exc:
            reporter.log("warning", "The copy of the tools stays in %s on node %s: %s" % (
                os.path.join(base, folder), node, exc))


@contextlib.contextmanager
def local_filestore(spec, engine, dbname):
    """A directory of this machine with database ``dbname``'s filestore (a
    backup reads it): its own where the environment's files are the
    platform's, else a copy pulled from its node's disk, removed after."""
    if not on_own_disk(spec):
        yield paths.db_filestore(spec, dbname)
        return
    local = paths.work_dir(spec, "filestore")
    try:
        filestore_to(spec, engine, dbname, local)
        yield local
    finally:
        shutil.rmtree(local, ignore_errors=True)


def push_filestore(spec, engine, dbname):
    """Database ``dbname``'s filestore, loaded on this machine (a restore),
    onto its node's disk when the environment keeps its files there (the
    copy here removed); nothing to do otherwise."""
    node = on_own_disk(spec)
    if not node:
        return
    local = paths.db_filestore(spec, dbname)
    if not os.path.isdir(local):
        return  # the backup had no attachment
    target = os.path.join(paths.env_dir(spec, create=False), "filestore", naming.validate_db_name(dbname))
    try:
        runtime.connect(timeout=900).copy_tree(swarm_guard.IMAGE, local, engine_of(spec, engine, node), target,
                                               odoo_steps.labels(spec, "filestore"))
    except RuntimeFailure as exc:
        raise RunFailed("The filestore of %s did not reach node %s: %s" % (dbname, node, exc)) from exc
    finally:
        shutil.rmtree(local, ignore_errors=True)


def place_filestore(spec, engine, source, dbname, reporter, source_node=None):
    """Database ``dbname``'s new filestore, where the environment keeps its
    files, made from directory ``source``: of the platform's disk, or of
    the own disk of ``source_node`` ({name, docker_url}: production's node
    for a staging copy or a point-in-time restore, whatever host it runs
    on). Hard links when both are the platform's disk; else a copy through
    the engines (a database that never stored an attachment has no
    filestore to copy: Odoo makes one when it stores its first). Returns
    {files, linked} (files None: the copy is counted in bytes)."""
    node = on_own_disk(spec)
    if not node and not source_node:
        return filestore.link_tree(source, paths.db_filestore(spec, dbname))
    engine = engine or runtime.for_spec(spec)
    if source_node:
        source_spec = dict(spec, node_engines={source_node["name"]: source_node["docker_url"]},
                           node_storage={source_node["name"]: "own"})
        source_engine, came = engine_of(source_spec, engine, source_node["name"]), "node %s" % source_node["name"]
    else:
        source_engine, came = runtime.connect(timeout=900), "the platform's disk"
    target_engine, went = (engine_of(spec, engine, node), "node %s" % node) if node else (
        runtime.connect(timeout=900), "the platform's disk")
    target = os.path.join(paths.env_dir(spec, create=not node), "filestore", naming.validate_db_name(dbname))
    if not node:
        shutil.rmtree(target, ignore_errors=True)
    started = time.monotonic()
    try:
        sent = source_engine.copy_tree(swarm_guard.IMAGE, source, target_engine, target,
                                       odoo_steps.labels(spec, "filestore"))
    except MissingTree:
        sent = 0
        if not node:
            os.makedirs(target, exist_ok=True)
    except RuntimeFailure as exc:
        raise RunFailed("The filestore in %s did not go from %s to %s: %s" % (source, came, went, exc)) from exc
    reporter.log("info", "Copied the filestore from %s to %s: %.1f MB in %.1f s" % (
        came, went, sent / 1e6, time.monotonic() - started))
    return {"files": None, "linked": 0}


def filestore_to(spec, engine, dbname, target):
    """Database ``dbname``'s filestore, where the environment keeps its
    files, into the new directory ``target`` of the platform's disk (a
    build's template, a backup): hard links from the platform's disk, else
    a copy from its node's. Returns {files, linked} (files None: copied)."""
    node = on_own_disk(spec)
    if not node:
        return filestore.link_tree(paths.db_filestore(spec, dbname), target)
    shutil.rmtree(target, ignore_errors=True)
    source = os.path.join(paths.env_dir(spec, create=False), "filestore", naming.validate_db_name(dbname))
    try:
        engine_of(spec, engine or runtime.for_spec(spec), node).copy_tree(
            swarm_guard.IMAGE, source, runtime.connect(timeout=900), target, odoo_steps.labels(spec, "filestore"))
    except MissingTree:
        os.makedirs(target)  # it never stored an attachment
    except RuntimeFailure as exc:
        raise RunFailed("The filestore of %s did not come from node %s: %s" % (dbname, node, exc)) from exc
    return {"files": None, "linked": 0}

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
commands there as Swarm jobs (executors/node_jobs.py); a rollback and a
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
from . import node_sweep, odoo_steps, paths, swarm_images
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
REMOVE_TREE = "import shutil, sys\nfor path in sys.argv[1:]:\n    shutil.rmtree(path, ignore_errors=True)\n"
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
    helper(spec, engine, EMPTY_DIR, ["/data"], "data removal", node=node)
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


def helper(spec, engine, script, args, what, node=None, data=None, as_root=False):
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
    helper(spec, engine, LINK_TREE, ["/data/filestore/%s" % naming.validate_db_name(old_db),
                                      "/data/filestore/%s" % naming.validate_db_name(new_db)], "filestore copy")
    return None


def filestore_size(spec, engine, dbname):
    """Bytes of database ``dbname``'s filestore, where the environment keeps its files."""
    if not on_own_disk(spec):
        return filestore.tree_size(paths.db_filestore(spec, dbname))
    tail = helper(spec, engine, TREE_SIZE, ["/data/filestore/%s" % naming.validate_db_name(dbname)], "filestore size")
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
    remove_filestores(spec, engine, [dbname])


def remove_filestores(spec, engine, dbnames):
    """The filestores of ``dbnames`` gone from the disk of the node that
    keeps the environment's files (one helper there for all)."""
    if dbnames:
        helper(spec, engine, REMOVE_TREE, ["/data/filestore/%s" % naming.validate_db_name(name) for name in dbnames],
               "filestore removal")


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

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
nothing the new unit wrote).
"""

import contextlib
import os
import shutil
import time

from ..services import filestore, naming, runtime, swarm_guard
from ..services.runtime import RuntimeFailure
from ..services.swarm_cluster import NODE_LABEL
from . import network, odoo_steps, paths, swarm_images
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

# Kinds of run an environment on a node with a disk of its own has so far;
# the others need their file work done through its node's engine too.
SUPPORTED = ("move", "stop", "start", "shell")


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
        return runtime.connect(url, timeout=900)
    except RuntimeFailure as exc:
        raise RunFailed("The engine of node %s does not answer: %s" % (node, exc)) from exc


def copy_env_dir(spec, engine, source, target, reporter, part=None):
    """Copy the environment's data directory (or its ``part``, a folder of
    it) from node ``source``'s disk to node ``target``'s. Returns the bytes
    streamed."""
    path = paths.env_dir(spec, create=False)
    if part:
        path = os.path.join(path, part)
    started = time.monotonic()
    try:
        sent = engine_of(spec, engine, source).copy_tree(
            swarm_guard.IMAGE, path, engine_of(spec, engine, target), path, odoo_steps.labels(spec, "copy"))
    except RuntimeFailure as exc:
        raise RunFailed("The data directory did not reach node %s: %s" % (target, exc)) from exc
    reporter.log("info", "Copied %s from node %s to node %s: %.1f MB in %.1f s" % (
        "its %s" % part if part else "the data directory", source, target, sent / 1e6, time.monotonic() - started))
    return sent


def on_own_disk(spec):
    """The run's node when it keeps the environment's files on its own disk, else None."""
    node = spec.get("node")
    return node if own_disk(spec, node) else None


def _helper(spec, engine, script, args, what):
    """``script`` (Python) with ``args`` in a helper container on the node's
    engine, the environment's data directory at /data."""
    node = on_own_disk(spec)
    code, tail = engine_of(spec, engine, node).run_to_completion(
        swarm_guard.IMAGE, list(args), odoo_steps.container_name(spec, what), odoo_steps.labels(spec, what),
        network="none", volumes={paths.env_dir(spec, create=False): {"bind": "/data", "mode": "rw"}},
        entrypoint=["python3", "-c", script], timeout=3600)
    if code != 0:
        raise RunFailed("The %s on node %s failed (exit code %s): %s" % (what, node, code, " / ".join(tail[-3:])))


def link_filestore(spec, engine, old_db, new_db):
    """Database ``new_db``'s filestore: ``old_db``'s, hard-linked, where the environment's files are."""
    if not on_own_disk(spec):
        return filestore.link_tree(paths.db_filestore(spec, old_db), paths.db_filestore(spec, new_db))
    _helper(spec, engine, LINK_TREE, ["/data/filestore/%s" % naming.validate_db_name(old_db),
                                      "/data/filestore/%s" % naming.validate_db_name(new_db)], "filestore copy")
    return None


def remove_filestore(spec, engine, dbname):
    """Database ``dbname``'s filestore gone, where the environment's files are."""
    if not on_own_disk(spec):
        shutil.rmtree(paths.db_filestore(spec, dbname), ignore_errors=True)  # (the data directory made, as before)
        return
    _helper(spec, engine, REMOVE_TREE, ["/data/filestore/%s" % naming.validate_db_name(dbname)], "filestore removal")


def run_odoo_job(spec, engine, image, command, what, reporter, on_line=None, mem_limit=None, **_kwargs):
    """A one-shot Odoo command of an environment on a node with its own
    disk: a Swarm job placed there (services/swarm_jobs.py), with its
    unit's mounts and files. Returns (exit code, last lines)."""
    net = network.ensure(spec, engine, reporter)
    volumes, files = odoo_steps.unit_mounts(spec, engine, reporter)
    node = on_own_disk(spec)
    swarm_images.copy_to_node(spec, engine, image, node, reporter)
    return engine.run_job(image, command, odoo_steps.container_name(spec, what), odoo_steps.labels(spec, what),
                          net["name"], NODE_LABEL, node, files=files, volumes=volumes,
                          environment=network.container_environment(spec), mem_limit=mem_limit,
                          on_line=on_line or (lambda line: reporter.log("debug", line)))


@contextlib.contextmanager
def local_filestore(spec, engine, dbname):
    """A directory of this machine with database ``dbname``'s filestore (a
    backup reads it): its own where the environment's files are the
    platform's, else a copy pulled from its node's disk, removed after."""
    node = on_own_disk(spec)
    if not node:
        yield paths.db_filestore(spec, dbname)
        return
    engine = engine or runtime.for_spec(spec)
    local = paths.work_dir(spec, "filestore")
    shutil.rmtree(local, ignore_errors=True)
    source = os.path.join(paths.env_dir(spec, create=False), "filestore", naming.validate_db_name(dbname))
    try:
        try:
            engine_of(spec, engine, node).copy_tree(swarm_guard.IMAGE, source, runtime.connect(timeout=900), local,
                                                    odoo_steps.labels(spec, "filestore"))
        except RuntimeFailure as exc:
            raise RunFailed("The filestore of %s did not come from node %s: %s" % (dbname, node, exc)) from exc
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
    target = os.path.join(paths.env_dir(spec, create=False), "filestore", naming.validate_db_name(dbname))
    try:
        runtime.connect(timeout=900).copy_tree(swarm_guard.IMAGE, local, engine_of(spec, engine, node), target,
                                               odoo_steps.labels(spec, "filestore"))
    except RuntimeFailure as exc:
        raise RunFailed("The filestore of %s did not reach node %s: %s" % (dbname, node, exc)) from exc
    finally:
        shutil.rmtree(local, ignore_errors=True)

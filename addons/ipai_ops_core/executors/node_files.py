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

import os
import time

from ..services import runtime, swarm_guard
from ..services.runtime import RuntimeFailure
from . import odoo_steps, paths
from .base import RunFailed

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

"""The one-shot Odoo commands of an environment whose files are on a
node's own disk (executors/node_files.py): each is a Swarm job placed on
that node, with its unit's mounts and files; what it needs of the
platform's disk (OpenUpgrade's scripts) is copied there for the job, and
its secrets (obfuscate's key) are Swarm secrets of the job.
"""

import contextlib
import os
import time

from ..services import runtime, swarm_guard
from ..services.runtime import RuntimeFailure
from ..services.swarm_cluster import NODE_LABEL
from . import network, node_files, node_sweep, odoo_steps, paths, swarm_images
from .base import RunFailed

REMOVE_STRICT = "import os, shutil, sys\nif os.path.lexists(sys.argv[1]):\n    shutil.rmtree(sys.argv[1])\n"


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
    node = node_files.on_own_disk(spec)
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
    container}) copied into the run's folder of node_sweep.TOOLS_ROOT on
    ``node``'s disk and added to ``volumes`` read-only; the folder removed
    afterwards (a worker that dies meanwhile leaves it: the next attempt's
    clean start or the reaper removes it, else the collector's sweep of
    the node)."""
    if not tools:
        yield
        return
    base, folder = _run_tools(spec)
    started, sent = time.monotonic(), 0
    node_engine = node_files.engine_of(spec, engine, node)
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
        try:
            remove_run_tools(spec, engine, node)
        except (RunFailed, RuntimeFailure) as exc:
            reporter.log("warning", "The copy of the tools stays in %s on node %s (the garbage collector removes it "
                                    "later): %s" % (os.path.join(base, folder), node, exc))


def remove_run_tools(spec, engine, node):
    """The run's folder of node_sweep.TOOLS_ROOT gone from ``node``'s disk
    (after its command, or what a lost attempt left: executors/cleanup.py)."""
    base, folder = _run_tools(spec)
    # as root: the copy keeps the platform's owners
    node_files.helper(spec, engine, REMOVE_STRICT, ["/data/" + folder], "tools removal", node=node, data=base,
                      as_root=True)


def _run_tools(spec):
    """(the folder of the runs' tools on a node's data root, the run's folder name in it)."""
    return os.path.join(spec["filestore_root"], node_sweep.TOOLS_ROOT), "run-%d" % spec["run_id"]

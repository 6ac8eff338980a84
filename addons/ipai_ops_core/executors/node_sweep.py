"""What a node with a disk of its own keeps of environments that are not
there any more: their data directories, removed through the node's engine;
and what runs that are over left there.

A move off the node empties its directory there (executors/node_files.py)
and a destroy removes it; what neither could reach (the node did not
answer: a node lost, its production restored on another node) is removed
by the garbage collector once the node answers again
(ops.environment._gc_node_dirs).

The collector also takes the copies of tools (OpenUpgrade's scripts) that
runs whose worker died left in TOOLS_ROOT (executors/node_jobs.py), once
their run is over.

A node whose storage is set to "its own disk" but which in fact sees the
platform's data directory (a mistake in its record) must never be swept:
that directory holds every environment of the platform. The platform
keeps a mark file at the root of its data directory; a helper that finds
it there refuses to remove anything.
"""

import logging
import os
import re

from ..services import runtime, swarm_guard
from ..services.runtime import RuntimeFailure

MARK = ".ipai-ops-platform-disk"
MOUNT = "/platform-data"
# Where a run's tools are copied on a node's own disk (executors/node_jobs.py): beside the projects'
# folders of its data root, which no unit mounts (each mounts its own environment's directory), so that
# no environment's code can put a link where the platform copies as root.
TOOLS_ROOT = ".ipai-ops-tools"
# In a helper on the node, as root (the environments' directories are Odoo's,
# their project's folder is root's), without a network: ROOT/<slug>/env-<id>
# for each argument that is a directory (not a link), unless ROOT has MARK,
# and unless something in it changed in the last QUIET seconds (a copy onto
# the node that began after the collector looked: its files are new
# inodes). Renamed first, then removed: a writer that comes after the
# rename makes a directory of its own. With KEEP (not "-": the ids of the
# runs in progress, comma-separated), also TOOLS/run-<id> of every other
# run, under the same rules.
SWEEP = """import os, re, shutil, sys, time
root, mark, quiet, tools, keep = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
if os.path.lexists(os.path.join(root, mark)):
    print("this is the platform's own data directory")
    sys.exit(3)

def newest(path):
    found = os.lstat(path).st_ctime
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            found = max(found, os.lstat(os.path.join(folder, name)).st_ctime)
    return found

relatives = sys.argv[6:]
folder = os.path.join(root, tools)
if keep != "-" and os.path.isdir(folder) and not os.path.islink(folder):
    relatives += [os.path.join(tools, name) for name in sorted(os.listdir(folder))
                  if re.fullmatch("run-[0-9]+", name) and name[4:] not in keep.split(",")]
removed = []
for relative in relatives:
    path = os.path.join(root, relative)
    if os.path.islink(os.path.dirname(path)) or os.path.islink(path) or not os.path.isdir(path):
        continue
    if newest(path) > time.time() - quiet:
        print("busy", relative)
        continue
    gone = "%s.removed-%d" % (path, time.time_ns())
    os.rename(path, gone)
    shutil.rmtree(gone)
    removed.append(relative)
print("REMOVED", *removed)
"""
QUIET = 600
_RELATIVE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}/env-[0-9]+$")  # a project's slug (services/naming.py)
_logger = logging.getLogger(__name__)


def mark_platform_disk(root):
    """The mark of the platform's own data directory (made once)."""
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, MARK)
    if not os.path.exists(path):
        with open(path, "w", encoding="ascii") as handle:
            handle.write("The platform's data directory: a node that sees this file shares it.\n")


def env_relative(slug, env_id):
    """An environment's data directory, relative to the data root (executors/paths.env_dir)."""
    return "%s/env-%d" % (slug, int(env_id))


def remove_dirs(node, url, root, relatives, labels, quiet=QUIET, runs_in_progress=None):
    """Remove the environments' directories ``relatives`` (see
    env_relative) from the disk of ``node`` (its engine at ``url``), whose
    data root is ``root``; one where something changed in the last
    ``quiet`` seconds stays. With ``runs_in_progress`` (ids), also the
    copies of tools of every other run. Returns those removed (relative to
    ``root``); RuntimeFailure when the node does not answer, or shares the
    platform's directory."""
    bad = [relative for relative in relatives if not _RELATIVE.match(relative)]
    if bad:
        raise ValueError("Not an environment's directory: %r" % bad[0])
    if not relatives and runs_in_progress is None:
        return []
    keep = "-" if runs_in_progress is None else ",".join(str(int(run_id)) for run_id in sorted(runs_in_progress))
    if not url:
        raise RuntimeFailure("node %s has no Docker endpoint" % node)  # (never this machine's engine instead)
    node_engine = runtime.connect(url, timeout=120)
    runtime.connect(timeout=900).copy_image(swarm_guard.IMAGE, node_engine)  # unless it is there
    code, tail = node_engine.run_to_completion(
        swarm_guard.IMAGE, [MOUNT, MARK, str(quiet), TOOLS_ROOT, keep, *relatives],
        "ipai-ops-sweep-%s" % labels["ipai-ops.plane"],
        labels, network="none", user="0", volumes={root: {"bind": MOUNT, "mode": "rw"}},
        entrypoint=["python3", "-c", SWEEP], timeout=600)
    if code == 3:
        raise RuntimeFailure("node %s sees the platform's own data directory: its storage is not a disk of its own "
                             "(set it to shared); nothing removed there" % node)
    if code != 0:
        raise RuntimeFailure("the removal on node %s failed (exit code %s): %s" % (node, code, " / ".join(tail[-3:])))
    said = next((line for line in reversed(tail) if line.startswith("REMOVED")), "REMOVED")
    return said.split()[1:]

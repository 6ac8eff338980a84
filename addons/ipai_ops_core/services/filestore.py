"""Copies of filestores and databases for staging builds.

Plain values only. A filestore is copied with hard links where source and
target share a filesystem (Odoo writes a new file for new content and never
rewrites one in place, so sharing the inode is safe), and with a real copy
where they do not (EXDEV) or where links are refused.
"""

import errno
import os
import shutil
import subprocess
import time

from . import naming


def link_tree(src, dest):
    """Copy directory ``src`` to the new ``dest``: hard links where
    possible. Returns {"files": n, "linked": n}."""
    counts = {"files": 0, "linked": 0}
    if not os.path.isdir(src):
        os.makedirs(dest, exist_ok=True)
        return counts
    if os.path.exists(dest):
        shutil.rmtree(dest)

    def link_or_copy(source, target):
        counts["files"] += 1
        try:
            os.link(source, target)
            counts["linked"] += 1
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES):
                raise
            shutil.copy2(source, target)
        return target

    shutil.copytree(src, dest, copy_function=link_or_copy)
    # copytree makes the directories as whoever runs it (root for a worker):
    # give them their source's owner, or the environment's Odoo could not add
    # a file to them (a new attachment, a migration writing its assets).
    for directory, _dirs, _files in os.walk(dest):
        stat = os.stat(os.path.join(src, os.path.relpath(directory, dest)))
        try:
            os.chown(directory, stat.st_uid, stat.st_gid)
        except PermissionError:
            break  # not root: the directories are the worker's own, as the files it copied
    return counts


def pg_env(conn, options=None, app="ipai_ops_copy"):
    """Environment for the PostgreSQL client tools: connection values and
    the password through PG* variables, never on a command line."""
    env = dict(os.environ, PGHOST=str(conn["host"]), PGPORT=str(conn["port"]), PGUSER=conn["user"],
               PGAPPNAME=app, PGCONNECT_TIMEOUT="10")
    env.pop("PGDATABASE", None)
    # A connection without a password (the control plane's own, configured
    # through PGPASSWORD or .pgpass rather than a command line) keeps the
    # inherited one; every environment role has its own.
    if conn.get("password"):
        env["PGPASSWORD"] = conn["password"]
    if options:
        env["PGOPTIONS"] = options
    return env


def _run(args, env, what):
    proc = subprocess.run(args, env=env, cwd="/", capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (what, proc.returncode, (proc.stderr or proc.stdout)[-2000:]))


def copy_database_live(conn, source, target, workdir, jobs=2, source_conn=None):
    """Copy database ``source`` into the existing empty ``target`` while
    ``source`` keeps serving: a parallel pg_dump of one snapshot (ACCESS
    SHARE locks only: no connection is terminated, no write waits), then a
    parallel pg_restore. Uncompressed: on a few cores compression costs more
    than the disk it saves. The dump reads as ``source_conn`` (default
    ``conn``), the restore writes as ``conn``: whoever restores owns every
    object of the copy. Returns timings in seconds."""
    naming.validate_db_name(source)
    naming.validate_db_name(target)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.dirname(workdir), exist_ok=True)
    started = time.monotonic()
    _run(["pg_dump", "--format=directory", "--jobs=%d" % jobs, "--compress=0", "--no-owner", "--no-privileges",
          "--file=%s" % workdir, "--dbname=%s" % source], pg_env(source_conn or conn), "pg_dump")
    dumped = time.monotonic()
    # The copy is thrown away if the restore fails: no need to wait on the
    # WAL for each commit, and index builds get more memory.
    _run(["pg_restore", "--jobs=%d" % jobs, "--no-owner", "--no-privileges", "--exit-on-error",
          "--dbname=%s" % target, workdir],
         pg_env(conn, "-c synchronous_commit=off -c maintenance_work_mem=256MB"), "pg_restore")
    done = time.monotonic()
    shutil.rmtree(workdir, ignore_errors=True)
    return {"dump": dumped - started, "restore": done - dumped, "total": done - started}


def tree_size(path):
    """Bytes of the files under ``path`` (links not followed; a hard-linked
    file counts once per name); 0 when it is not there."""
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total

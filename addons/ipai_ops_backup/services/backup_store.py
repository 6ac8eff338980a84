"""Backups on disk: take, verify, restore, export and import them.

Plain values only (connection dicts, names, paths); no ORM. A backup is a
directory::

    db/              pg_dump directory format (-Fd), parallel, compressed
    filestore.tar    the database's filestore (Odoo never rewrites a file)
    manifest.json    Odoo version, modules and versions, row counts, sizes,
                     sha256 of every other file, source commit, image digest

The dump and the manifest's row counts come from one exported snapshot, so
a restore can be checked against them exactly while production keeps
writing. Every external tool gets an argument list and credentials through
its environment (``PGPASSWORD``), never on a command line.
"""

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile

import psycopg2
from odoo.addons.ipai_ops_core.services import naming
from odoo.addons.ipai_ops_core.services.filestore import pg_env
from psycopg2 import sql

from . import sql_dump

MANIFEST = "manifest.json"
DB_DIR = "db"
FILESTORE_TAR = "filestore.tar"
# Tables whose row counts a restore must reproduce exactly.
KEY_TABLES = ("res_company", "res_users", "res_partner", "ir_attachment", "ir_module_module", "ir_model",
              "ir_model_data", "mail_message")
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup operation failed; ``str(error)`` is meant for the user."""


def _pg_env(conn, options=None):
    return pg_env(conn, options, app="ipai_ops_backup")


def _run(args, env=None, what=None, cwd=None, timeout=None):
    proc = subprocess.run(args, env=env, cwd=cwd or "/", capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise BackupError("%s failed (exit %d): %s" % (what or args[0], proc.returncode,
                                                       (proc.stderr or proc.stdout).strip()[-2000:]))
    return proc


def _connect(conn, dbname):
    return psycopg2.connect(host=conn["host"], port=conn["port"], user=conn["user"],
                            password=conn.get("password") or None, dbname=naming.validate_db_name(dbname),
                            connect_timeout=10, application_name="ipai_ops_backup")


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(root):
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            yield os.path.relpath(path, root), path


def _hash_files(root, exclude=()):
    """{relative path: sha256} of every file under ``root``, hashed in threads
    (hashlib releases the GIL)."""
    items = [(rel, path) for rel, path in _files(root) if rel not in exclude]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        digests = pool.map(lambda item: sha256_file(item[1]), items)
        return dict(zip([rel for rel, _path in items], digests, strict=True))


def database_facts(cr):
    """What a restore must reproduce: Odoo version, installed modules, row counts."""
    cr.execute("SELECT name, latest_version FROM ir_module_module WHERE state = 'installed' ORDER BY name")
    modules = dict(cr.fetchall())
    counts = {}
    for table in KEY_TABLES:
        cr.execute("SELECT to_regclass(%s)", [table])
        if cr.fetchone()[0]:
            cr.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            counts[table] = cr.fetchone()[0]
    cr.execute("SELECT pg_database_size(current_database())")
    size = cr.fetchone()[0]
    return {"odoo_version": modules.get("base") or "", "modules": modules, "row_counts": counts,
            "database_size": size}


def _tar_filestore(filestore, target):
    """tar the filestore into ``target``, hashing the stream as it is written."""
    digest = hashlib.sha256()
    args = ["tar", "--create", "--file", "-", "--directory", filestore, "."] if os.path.isdir(filestore) else None
    with open(target, "wb") as out:
        if args is None:
            # An empty filestore is still an archive (tar of an empty directory).
            empty = tempfile.mkdtemp(prefix="ipai-ops-empty-")
            try:
                args = ["tar", "--create", "--file", "-", "--directory", empty, "."]
                return _pipe_to(args, out, digest)
            finally:
                os.rmdir(empty)
        return _pipe_to(args, out, digest)


def _pipe_to(args, out, digest):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
    for block in iter(lambda: proc.stdout.read(CHUNK), b""):
        digest.update(block)
        out.write(block)
    stderr = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise BackupError("tar failed: %s" % stderr.strip()[-2000:])
    return digest.hexdigest()


def create(conn, dbname, filestore, target, meta=None, jobs=2, compress=1):
    """Back up database ``dbname`` (and its ``filestore`` directory) into the
    new directory ``target``. ``conn``: host, port, user, password of a role
    that can read the whole database (the project's own role, its owner).

    Written as ``target + '.partial'`` and renamed at the end, so a directory
    named ``target`` is always complete. Returns the manifest.
    """
    naming.validate_db_name(dbname)
    if os.path.exists(target):
        raise BackupError("Backup directory %s exists already." % target)
    partial = target + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    started = time.monotonic()
    try:
        with _connect(conn, dbname) as db, db.cursor() as cr:
            # One snapshot for the dump and the facts: counts match the dump
            # exactly, while production keeps writing.
            cr.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cr.execute("SELECT pg_export_snapshot()")
            snapshot = cr.fetchone()[0]
            facts = database_facts(cr)
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                # The filestore is archived while pg_dump runs (one core each).
                tar_future = pool.submit(_tar_filestore, filestore, os.path.join(partial, FILESTORE_TAR))
                _run(["pg_dump", "--format=directory", "--jobs=%d" % jobs, "--compress=%d" % compress,
                      "--no-owner", "--no-privileges", "--snapshot=%s" % snapshot,
                      "--file=%s" % os.path.join(partial, DB_DIR), "--dbname=%s" % dbname],
                     env=_pg_env(conn), what="pg_dump")
                tar_sha = tar_future.result()
        db.close()
        files = _hash_files(partial, exclude={FILESTORE_TAR})
        files[FILESTORE_TAR] = tar_sha
        manifest = dict(meta or {}, format=1, database=dbname, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime()),
                        filestore_files=_count_files(filestore), files=files,
                        size=sum(os.path.getsize(os.path.join(partial, rel)) for rel in files),
                        seconds=round(time.monotonic() - started, 3), **facts)
        with open(os.path.join(partial, MANIFEST), "w") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
        os.rename(partial, target)
        return manifest
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _count_files(root):
    return sum(1 for _ in _files(root)) if os.path.isdir(root) else 0


def read_manifest(path):
    try:
        with open(os.path.join(path, MANIFEST)) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BackupError("No readable manifest in %s: %s" % (path, exc)) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BackupError("The manifest of %s is not a backup manifest." % path)
    return manifest


def verify(path):
    """Checksum every file against the manifest. Returns a list of problems
    (empty when the backup is intact)."""
    manifest = read_manifest(path)
    problems = []
    present = {rel for rel, _p in _files(path) if rel != MANIFEST}
    for rel in sorted(present - set(manifest["files"])):
        problems.append("unexpected file %s" % rel)
    expected = {rel: sha for rel, sha in manifest["files"].items() if rel in present}
    for rel in sorted(set(manifest["files"]) - present):
        problems.append("missing file %s" % rel)
    actual = _hash_files(path, exclude={rel for rel in present if rel not in expected} | {MANIFEST})
    for rel, sha in sorted(expected.items()):
        if actual.get(rel) != sha:
            problems.append("checksum mismatch in %s" % rel)
    return problems


def restore(conn, dbname, path, filestore, jobs=2, verify_first=True):
    """Restore the backup at ``path`` into the existing, empty database
    ``dbname`` (connect as ``conn``, its owner) and its filestore into the
    new directory ``filestore``. Nothing is left behind on failure."""
    naming.validate_db_name(dbname)
    if verify_first:
        problems = verify(path)
        if problems:
            raise BackupError("The backup is damaged: %s" % "; ".join(problems[:5]))
    if os.path.exists(filestore):
        raise BackupError("Filestore %s exists already." % filestore)
    os.makedirs(filestore)
    # The filestore is extracted while pg_restore runs (they share nothing).
    tar = subprocess.Popen(["tar", "--extract", "--same-owner", "--file", os.path.join(path, FILESTORE_TAR),
                            "--directory", filestore], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
    try:
        # A failed restore is thrown away: no need to wait on the WAL for
        # each commit, and index builds get more memory.
        _run(["pg_restore", "--jobs=%d" % jobs, "--no-owner", "--no-privileges", "--exit-on-error",
              "--dbname=%s" % dbname, os.path.join(path, DB_DIR)],
             env=_pg_env(conn, "-c synchronous_commit=off -c maintenance_work_mem=256MB"),
             what="pg_restore")
        stderr = tar.communicate()[1].decode(errors="replace")
        if tar.returncode != 0:
            raise BackupError("tar failed: %s" % stderr.strip()[-2000:])
    except BaseException:
        if tar.poll() is None:
            tar.kill()
            tar.wait()
        shutil.rmtree(filestore, ignore_errors=True)
        raise


def check_restored(conn, dbname, manifest):
    """Compare a restored database with its manifest: modules and row counts.
    Returns a list of problems."""
    with _connect(conn, dbname) as db, db.cursor() as cr:
        facts = database_facts(cr)
    db.close()
    problems = []
    missing = sorted(set(manifest.get("modules") or {}) - set(facts["modules"]))
    if missing:
        problems.append("modules not installed: %s" % ", ".join(missing[:20]))
    for table, count in sorted((manifest.get("row_counts") or {}).items()):
        if facts["row_counts"].get(table) != count:
            problems.append("%s has %s rows, the backup had %s" % (table, facts["row_counts"].get(table), count))
    return problems


# --------------------------------------------------------------------------
# Odoo database manager format: dump.sql + filestore/ + manifest.json
# --------------------------------------------------------------------------

def export_zip(path, target):
    """Write the backup at ``path`` as a zip that Odoo's database manager
    restores (plain SQL ``dump.sql``, ``filestore/``, ``manifest.json``)."""
    manifest = read_manifest(path)
    work = tempfile.mkdtemp(prefix="ipai-ops-zip-", dir=os.path.dirname(target) or None)
    try:
        sql_path = os.path.join(work, "dump.sql")
        _run(["pg_restore", "--no-owner", "--no-privileges", "--file=%s" % sql_path, os.path.join(path, DB_DIR)],
             what="pg_restore (to SQL)")
        store = os.path.join(work, "filestore")
        os.makedirs(store)
        _run(["tar", "--extract", "--no-same-owner", "--file", os.path.join(path, FILESTORE_TAR),
              "--directory", store], what="tar")
        odoo_manifest = {
            "odoo_dump": "1", "db_name": manifest.get("database"), "version": manifest.get("odoo_version"),
            "version_info": _version_info(manifest.get("odoo_version")), "major_version": "18.0",
            "pg_version": manifest.get("pg_version", ""), "modules": manifest.get("modules") or {},
        }
        partial = target + ".partial"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            zf.writestr("manifest.json", json.dumps(odoo_manifest, indent=4))
            zf.write(sql_path, "dump.sql")
            for rel, full in sorted(_files(store)):
                zf.write(full, "filestore/%s" % rel, compress_type=zipfile.ZIP_STORED)
        os.rename(partial, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _version_info(version):
    parts = (version or "18.0").split(".")[:2]
    return [int(p) if p.isdigit() else 0 for p in parts] + [0, "final", 0, ""]


def import_zip(conn, dbname, zip_path, filestore):
    """Load a database manager zip (``dump.sql`` and optional ``filestore/``)
    into the existing, empty database ``dbname`` and the new directory
    ``filestore``. Entries that would leave the filestore are refused."""
    naming.validate_db_name(dbname)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError("Not a zip file: %s" % exc) from exc
    with zf:
        names = zf.namelist()
        if "dump.sql" not in names:
            raise BackupError("The zip has no dump.sql: not a backup from Odoo's database manager.")
        root = os.path.realpath(filestore)
        for name in names:
            if name.startswith("filestore/"):
                dest = os.path.realpath(os.path.join(root, name[len("filestore/"):]))
                if not dest.startswith(root + os.sep) and dest != root:
                    raise BackupError("Refused zip entry outside the filestore: %r" % name)
        if os.path.exists(filestore):
            raise BackupError("Filestore %s exists already." % filestore)
        work = tempfile.mkdtemp(prefix="ipai-ops-import-")
        os.makedirs(filestore)
        try:
            sql_path = zf.extract("dump.sql", work)
            # Never psql: it would obey meta-commands (\! runs a shell
            # command here). The dump is checked, then run statement by
            # statement as the environment's own role (sql_dump.py).
            try:
                sql_dump.load(conn, dbname, sql_path)
            except sql_dump.DumpRefused as exc:
                raise BackupError("dump.sql refused: %s" % exc) from exc
            for info in zf.infolist():
                if info.filename.startswith("filestore/") and not info.is_dir():
                    dest = os.path.join(root, info.filename[len("filestore/"):])
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    with zf.open(info) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
        except BaseException:
            shutil.rmtree(filestore, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

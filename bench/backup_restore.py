#!/usr/bin/env python3
"""Backup and restore of a 1 GB / 20,000-file production: ours against Odoo's.

Odoo's: ``odoo.service.db.dump_db`` (zip: dump.sql + filestore + manifest,
what the database manager's Backup button does) and
``odoo.service.db.restore_db``. Ours: ipai_ops_backup's backup_store
(``pg_dump -Fd -j2 -Z1`` of one exported snapshot, the filestore tar made
at the same time, sha256 of every file) and its restore (checksums
verified, ``pg_restore -j2``, the restored database checked against the
manifest's modules and row counts). Same database, same run, one after the
other. Every restore is verified the same way (row counts of key tables).

Usage (after `make test` or `make run` once, so the venv and PostgreSQL exist):
    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/backup_restore.py'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bigdb  # noqa: E402
import odoo  # noqa: E402

REPO = bigdb.REPO


def odoo_setup():
    odoo.tools.config.parse_config([
        "-c", os.environ["OPS_CONF"], "--addons-path", "%s/addons,%s/addons" % (os.environ["ODOO_SRC"], REPO),
        "--db_host", os.environ["OPS_DB_HOST"], "--db_port", os.environ["OPS_DB_PORT"],
        "--db_user", os.environ["OPS_DB_USER"],
        "--log-level", "warn"])
    # The baseline is the database manager's own dump and restore, called in
    # this process (no HTTP, no master password): Odoo refuses them while the
    # manager is off, as it is in the control plane's configuration.
    odoo.tools.config["list_db"] = True
    odoo.modules.module.initialize_sys_path()


def du(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, n)) for r, _d, ns in os.walk(path) for n in ns)


def verify(store, db, manifest):
    with bigdb.connect(db) as conn, conn.cursor() as cr:
        facts = store.database_facts(cr)
    conn.close()
    return facts["row_counts"] == manifest["row_counts"] and facts["modules"] == manifest["modules"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_prod")
    parser.add_argument("--min-gb", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--work", default=os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "bench-work"))
    args = parser.parse_args()
    data = bigdb.ensure(args.db, int(args.min_gb * 2**30), args.files, log=lambda m: print(m, file=sys.stderr))
    odoo_setup()
    from odoo.addons.ipai_ops_backup.services import backup_store
    from odoo.service import db as odoo_db

    os.makedirs(args.work, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bk-", dir=args.work)
    conn = bigdb.conn_params()
    results = {}
    try:
        with bigdb.connect(args.db) as c, c.cursor() as cr:
            reference = backup_store.database_facts(cr)
        c.close()
        # Odoo's backup (zip) and restore
        zip_path = os.path.join(work, "odoo.zip")
        started = time.monotonic()
        with open(zip_path, "wb") as fh:
            odoo_db.dump_db(args.db, fh, "zip")
        results["odoo_backup"] = time.monotonic() - started
        results["odoo_backup_size"] = du(zip_path)
        print("odoo backup %.1fs" % results["odoo_backup"], file=sys.stderr)
        target = args.db + "_rodoo"
        bigdb.drop(target)
        shutil.rmtree(bigdb.filestore(target), ignore_errors=True)
        started = time.monotonic()
        odoo_db.restore_db(target, zip_path, copy=True)
        results["odoo_restore"] = time.monotonic() - started
        results["odoo_restore_verified"] = verify(backup_store, target, reference)
        print("odoo restore %.1fs" % results["odoo_restore"], file=sys.stderr)
        bigdb.drop(target)
        shutil.rmtree(bigdb.filestore(target), ignore_errors=True)
        os.unlink(zip_path)

        # Ours
        ours = os.path.join(work, "ours")
        started = time.monotonic()
        manifest = backup_store.create(conn, args.db, bigdb.filestore(args.db), ours)
        results["ours_backup"] = time.monotonic() - started
        results["ours_backup_size"] = du(ours)
        print("ours backup %.1fs" % results["ours_backup"], file=sys.stderr)
        target = args.db + "_rours"
        bigdb.drop(target)
        store = os.path.join(work, "restored-filestore")
        started = time.monotonic()
        bigdb.admin('CREATE DATABASE "%s" TEMPLATE template0' % target)
        backup_store.restore(conn, target, ours, store)  # checksums verified first
        problems = backup_store.check_restored(conn, target, manifest)
        results["ours_restore"] = time.monotonic() - started
        results["ours_restore_verified"] = not problems and verify(backup_store, target, reference)
        print("ours restore %.1fs" % results["ours_restore"], file=sys.stderr)
        bigdb.drop(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results["backup_ratio"] = results["ours_backup"] / results["odoo_backup"]
    results["restore_ratio"] = results["ours_restore"] / results["odoo_restore"]
    results.update(database_bytes=data["size"], filestore_files=data["files"],
                   filestore_bytes=data["filestore_bytes"], cpus=os.cpu_count())
    rows = [("backup", results["odoo_backup"], results["ours_backup"], results["backup_ratio"], "<= 0.25",
             "%.0f MB zip / %.0f MB" % (results["odoo_backup_size"] / 1e6, results["ours_backup_size"] / 1e6)),
            ("restore (verified)", results["odoo_restore"], results["ours_restore"], results["restore_ratio"],
             "<= 0.6", "verified: odoo %s, ours %s" % (results["odoo_restore_verified"],
                                                      results["ours_restore_verified"]))]
    print("database %.2f GB, %d filestore files (%.0f MB), %d CPUs" % (
        data["size"] / 2**30, data["files"], data["filestore_bytes"] / 1e6, os.cpu_count()))
    print("%-20s %10s %10s %7s %8s  %s" % ("step", "odoo (s)", "ours (s)", "ratio", "goal", "notes"))
    for step, base, ours_s, ratio, goal, notes in rows:
        print("%-20s %10.1f %10.1f %7.3f %8s  %s" % (step, base, ours_s, ratio, goal, notes))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}, sort_keys=True))


if __name__ == "__main__":
    main()

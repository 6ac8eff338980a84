#!/usr/bin/env python3
"""Point-in-time recovery against today's nightly dump (issue 27).

Production: the benches' 1 GB Odoo database (bench/bigdb.py), copied into an
archived cluster of the bench's own (services/archived_cluster.py: WAL pushed
by pgBackRest, archive_timeout 60 s like production), settled (VACUUM FREEZE,
as a production that has been read for a while) and backed up in full. Same
run, one after the other:

  nightly dump  services/backup_store.create of production (pg_dump -Fd of one
                snapshot + filestore tar), restored into a scratch database
                on the shared server (staging's) by backup_store.restore;
  diff backup   1 % of res_partner's rows changed (id % 100 = 0), then a
                differential pgBackRest backup: time and repository size;
  PITR          a writer inserts orders, T noted, more orders, the archive
                sealed, services/pitr.restore_database to T into another
                scratch database: time, and the orders committed before T
                (and the partner changes) the copy lacks, against the dump's;
  archive lag   single-row INSERT transactions paced to 200 per second,
                pitr.archive_status sampled every second.

Usage (after `make test` or `make run` once):
    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/pitr.py'
Prints a table and a JSON line. Removes what it made (cluster, repository,
dumps, scratch databases); keeps the bench production (--drop-db drops it).
"""

import argparse
import datetime
import json
import os
import secrets
import shutil
import sys
import threading
import time

import odoo.addons
import psycopg2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
odoo.addons.__path__.append(os.path.join(REPO, "addons"))
# Odoo's own addons (web): ipai_ops_core's controllers import them.
odoo.addons.__path__.append(os.path.join(os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0"), "addons"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bigdb  # noqa: E402
from odoo.addons.ipai_ops_backup.services import (  # noqa: E402
    archived_cluster,
    backup_store,
    pg_cluster,
    pgbackrest,
    pitr,
)
from odoo.addons.ipai_ops_core.services import filestore  # noqa: E402

UTC = datetime.timezone.utc
ORDERS = "CREATE TABLE bench_pitr_order (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"
MARK = "changed after the dump "


def log(message):
    print(message, file=sys.stderr, flush=True)


def timed(fn, *args, **kwargs):
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started


class Writer(threading.Thread):
    """Production's users: single-row INSERT transactions paced to ``rate`` per
    second, each noted (id, its clock_timestamp, when its commit returned)."""

    def __init__(self, conn, dbname, rate):
        super().__init__(daemon=True)
        self.conn, self.dbname, self.interval = conn, dbname, 1.0 / rate
        self.stop, self.rows, self.errors = threading.Event(), [], 0

    def run(self):
        db, due = None, time.monotonic()
        while not self.stop.is_set():
            try:
                db = db or pg_cluster.connect(self.conn, self.dbname)
                with db.cursor() as cr:
                    cr.execute("INSERT INTO bench_pitr_order DEFAULT VALUES RETURNING id, at")
                    row_id, at = cr.fetchone()
                db.commit()
                self.rows.append((row_id, at, datetime.datetime.now(UTC)))
            except psycopg2.Error:
                self.errors += 1
                db = None
            # Paced on a schedule (a late commit is caught up, at most a second's worth).
            due = max(due + self.interval, time.monotonic() - 1.0)
            self.stop.wait(max(0.0, due - time.monotonic()))
        if db:
            db.close()


def start_writers(conn, dbname, rate, threads):
    group = [Writer(conn, dbname, rate / threads) for _ in range(threads)]
    for writer in group:
        writer.start()
    return group


def stop_writers(group):
    for writer in group:
        writer.stop.set()
    for writer in group:
        writer.join(30)
    return [row for writer in group for row in writer.rows], sum(writer.errors for writer in group)


def fresh_db(name):
    """An empty scratch database on the shared server (staging's)."""
    bigdb.drop(name)
    bigdb.admin('CREATE DATABASE "%s" TEMPLATE template0' % name)


def restored_state(conn, dbname):
    """(order ids, partners carrying the change) of a restored copy."""
    ids = {row[0] for row in pg_cluster.fetch(conn, "SELECT id FROM bench_pitr_order", dbname=dbname)}
    marked = pg_cluster.fetch(conn, "SELECT count(*) FROM res_partner WHERE comment LIKE %s", (MARK + "%",),
                              dbname=dbname)[0][0]
    return ids, marked


def setup(ctx, args):
    """The archived production: cluster, role, the bench production copied in, a full backup."""
    cluster, stanza, prod, db = ctx["cluster"], ctx["stanza"], ctx["prod"], args.db
    archived_cluster.ensure(cluster, stanza, secrets.token_hex(16), *ctx["control"],
                            archive_timeout=args.archive_timeout)
    pg_cluster.fetch(prod, 'CREATE DATABASE "%s"' % db)
    copy, _ = timed(filestore.copy_database_live, prod, db, db, ctx["base"] + "/copy", source_conn=ctx["shared"])
    pg_cluster.fetch(prod, ORDERS, dbname=db)
    # Freshly restored pages get their hint bits and visibility bits on first
    # read; a production read for a while has them: set them now, so that the
    # differential backup sees the 1 % change only.
    pg_cluster.fetch(prod, "VACUUM (FREEZE, ANALYZE)", dbname=db)
    full, seconds = timed(stanza.backup, "full")
    log("copied in %.1fs; full backup %.1fs" % (copy["total"], seconds))
    return {"full_backup_s": seconds, "full_backup_repo_bytes": full["repo_size"]}


def nightly(ctx, args):
    """Today's nightly dump of production, and its restore into staging's server."""
    path = ctx["base"] + "/nightly"
    manifest, dump_s = timed(backup_store.create, ctx["prod"], args.db, bigdb.filestore(args.db), path)
    ctx["dumped_at"] = datetime.datetime.now(UTC)
    db_bytes = sum(os.path.getsize(os.path.join(d, n)) for d, _s, ns in os.walk(path + "/db") for n in ns)
    fresh_db(ctx["scratch_dump"])
    _, restore_s = timed(backup_store.restore, ctx["shared"], ctx["scratch_dump"], path, ctx["base"] + "/restored-fs")
    log("nightly dump %.1fs, restore %.1fs" % (dump_s, restore_s))
    return {"dump_s": dump_s, "dump_bytes": manifest["size"], "dump_db_bytes": db_bytes, "dump_restore_s": restore_s}


def differential(ctx, args):
    """1 % of the biggest table's rows changed, then a differential backup."""
    changed = pg_cluster.fetch(ctx["prod"], """
        WITH c AS (UPDATE res_partner SET comment = %s || id, write_date = now() WHERE id %% 100 = 0 RETURNING 1)
        SELECT count(*) FROM c""", (MARK,), dbname=args.db)[0][0]
    rows, table_bytes = pg_cluster.fetch(ctx["prod"], "SELECT count(*), pg_total_relation_size('res_partner') "
                                                      "FROM res_partner", dbname=args.db)[0]
    diff, seconds = timed(ctx["stanza"].backup, "diff")
    log("%d of %d partners changed; diff backup %.1fs" % (changed, rows, seconds))
    return {"changed_rows": changed, "partner_rows": rows, "partner_bytes": table_bytes, "diff_backup_s": seconds,
            "diff_repo_bytes": diff["repo_size"]}


def point_in_time(ctx, args):
    """Orders before and after T, the archive sealed, production's database back as at T."""
    group = start_writers(ctx["prod"], args.db, 10, 1)
    time.sleep(5)
    target = datetime.datetime.now(UTC)
    time.sleep(3)
    rows, errors = stop_writers(group)
    pitr.seal_archive(ctx["prod"])
    fresh_db(ctx["scratch_pitr"])
    timings = pitr.restore_database(ctx["stanza"], args.db, target, *ctx["control"], ctx["shared"],
                                    ctx["scratch_pitr"], ctx["base"] + "/side")
    before = {i for i, _at, done in rows if done < target}
    after = {i for i, at, _done in rows if at > target}
    ids, marked = restored_state(ctx["shared"], ctx["scratch_pitr"])
    dump_ids, dump_marked = restored_state(ctx["shared"], ctx["scratch_dump"])
    log("PITR restore %.1fs (%s)" % (timings["total"], timings["scope"]))
    return {"pitr_restore_s": timings["total"], "pitr_restore_part_s": timings["restore"],
            "pitr_recovery_s": timings["recovery"], "pitr_copy_s": timings["copy"], "pitr_scope": timings["scope"],
            "orders_before_t": len(before), "pitr_orders_missing": len(before - ids),
            "pitr_orders_after_t_present": len(ids & after), "pitr_changes_missing": ctx["changed"] - marked,
            "dump_orders_missing": len(before - dump_ids), "dump_changes_missing": ctx["changed"] - dump_marked,
            "dump_age_at_t_s": (target - ctx["dumped_at"]).total_seconds(), "writer_errors": errors}


def archive_lag(ctx, args):
    """Archiving while production commits ``args.tps`` small transactions a second,
    from a sealed archive (lag 0) on."""
    pitr.seal_archive(ctx["prod"])
    group = start_writers(ctx["prod"], args.db, args.tps, args.threads)
    samples, started = [], time.monotonic()
    while time.monotonic() - started < args.load_seconds:
        samples.append(pitr.archive_status(ctx["prod"]))
        time.sleep(1.0)
    rows, errors = stop_writers(group)
    elapsed = time.monotonic() - started
    end = pitr.archive_status(ctx["prod"])
    lags = sorted(s["lag"] or 0.0 for s in samples)
    return {"load_tps": len(rows) / elapsed, "load_errors": errors, "lag_max_s": lags[-1],
            "lag_p95_s": lags[int(0.95 * (len(lags) - 1))], "pending_bytes_end": end["pending_bytes"],
            "archive_failing": any(s["failing"] for s in samples + [end]), "lag_samples": len(samples)}


def report(r, args):
    mb = 1e6
    print("database %.2f GB (res_partner %d rows, %.0f MB), %d filestore files (%.0f MB), %d CPUs, "
          "archive_timeout %d s" % (r["database_bytes"] / 2**30, r["partner_rows"], r["partner_bytes"] / mb,
                                     r["filestore_files"], r["filestore_bytes"] / mb, r["cpus"], args.archive_timeout))
    rows = [
        ("restore into staging (s)", "%.1f" % r["dump_restore_s"], "%.1f" % r["pitr_restore_s"],
         "%.3f" % r["pitr_restore_ratio"], "PITR: pgBackRest restore %.1f + recovery %.1f + copy %.1f (%s); dump: "
         "verify + pg_restore + filestore" % (r["pitr_restore_part_s"], r["pitr_recovery_s"], r["pitr_copy_s"],
                                              r["pitr_scope"])),
        ("data lost", "up to 24 h", "%d rows" % (r["pitr_orders_missing"] + r["pitr_changes_missing"]), "",
         "orders committed before T missing: dump %d, PITR %d of %d (after T present: %d); partner changes "
         "missing: dump %d, PITR %d of %d; dump age at T here %.0f s" % (
             r["dump_orders_missing"], r["pitr_orders_missing"], r["orders_before_t"],
             r["pitr_orders_after_t_present"], r["dump_changes_missing"], r["pitr_changes_missing"],
             r["changed_rows"], r["dump_age_at_t_s"])),
        ("backup after 1 % changed (s)", "%.1f" % r["dump_s"], "%.1f" % r["diff_backup_s"],
         "%.3f" % r["diff_time_ratio"], "full dump vs differential backup (first full backup: %.1f s)" % (
             r["full_backup_s"])),
        ("backup size (MB)", "%.1f" % (r["dump_bytes"] / mb), "%.1f" % (r["diff_repo_bytes"] / mb),
         "%.3f" % r["diff_size_ratio"], "dump: database %.1f MB + filestore tar; diff: repository delta (full: "
         "%.1f MB)" % (r["dump_db_bytes"] / mb, r["full_backup_repo_bytes"] / mb)),
        ("archive lag (s)", "", "max %.1f" % r["lag_max_s"], "",
         "p95 %.1f s at %.1f tps (goal %d, %d errors), %d samples; %.1f MB pending at the end, failing: %s; "
         "a trickle fills no segment, archive_timeout bounds the lag (~%d s)" % (
             r["lag_p95_s"], r["load_tps"], args.tps, r["load_errors"], r["lag_samples"],
             r["pending_bytes_end"] / mb, "yes" if r["archive_failing"] else "no", args.archive_timeout)),
    ]
    print("%-30s %12s %12s %7s  %s" % ("step", "nightly dump", "PITR", "ratio", "notes"))
    for row in rows:
        print("%-30s %12s %12s %7s  %s" % row)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}, sort_keys=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_prod")
    parser.add_argument("--min-gb", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--archive-timeout", type=int, default=60)
    parser.add_argument("--tps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--load-seconds", type=int, default=90)
    parser.add_argument("--drop-db", action="store_true", help="drop the bench production at the end")
    args = parser.parse_args()
    data = bigdb.ensure(args.db, int(args.min_gb * 2**30), args.files, log=log)
    if data["size"] < 0.9 * args.min_gb * 2**30:
        log("warning: %s is %.2f GB (made smaller before), not %.1f GB" % (args.db, data["size"] / 2**30, args.min_gb))
    base = "/var/tmp/ops-bench-pitr-%s" % secrets.token_hex(4)
    os.makedirs(base, mode=0o755)
    cluster = pg_cluster.Cluster(base + "/data", pitr.free_port())
    control = ("ops_bench_control", secrets.token_hex(16))
    ctx = {"base": base, "cluster": cluster, "control": control, "prod": cluster.conn(*control),
           "stanza": pgbackrest.Stanza(base + "/pgbackrest", "production", cluster, [{"path": base + "/repo"}]),
           "shared": bigdb.conn_params(), "scratch_dump": args.db + "_dump", "scratch_pitr": args.db + "_pitr"}
    r = {"bench": "pitr", "database_bytes": data["size"], "filestore_files": data["files"],
         "filestore_bytes": data["filestore_bytes"], "cpus": os.cpu_count(), "archive_timeout_s": args.archive_timeout}
    try:
        r.update(setup(ctx, args))
        r.update(nightly(ctx, args))
        r.update(differential(ctx, args))
        ctx["changed"] = r["changed_rows"]
        r.update(point_in_time(ctx, args))
        r.update(archive_lag(ctx, args))
    finally:
        try:
            cluster.stop("immediate")
        except pg_cluster.ClusterError as exc:
            log("stopping the bench cluster: %s" % exc)
        cluster.remove()
        shutil.rmtree(base, ignore_errors=True)
        for name in (ctx["scratch_dump"], ctx["scratch_pitr"]) + ((args.db,) if args.drop_db else ()):
            bigdb.drop(name)
        if args.drop_db:
            shutil.rmtree(bigdb.filestore(args.db), ignore_errors=True)
    r["pitr_restore_ratio"] = r["pitr_restore_s"] / r["dump_restore_s"]
    r["diff_time_ratio"] = r["diff_backup_s"] / r["dump_s"]
    r["diff_size_ratio"] = r["diff_repo_bytes"] / r["dump_bytes"]
    report(r, args)


if __name__ == "__main__":
    main()

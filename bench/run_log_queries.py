#!/usr/bin/env python3
"""How fast are a run's log tail and a text search with millions of log lines?

Ours: the real ``ops_run_log`` table of ipai_ops_core (its (run_id, id)
index and trigram GIN index on message, created by the module's init()).
Baseline, in the same run and on the same rows: a copy of the table with
only its primary key (what a plain Odoo model with ``run_id`` unindexed
would give).

Usage (after `make test` or `make run` once, so the venv and PostgreSQL exist):
    bash -c 'source scripts/env.sh && $OPS_VENV/bin/python bench/run_log_queries.py --lines 2000000'
Prints a table and a JSON line. Uses a scratch database (default ipai_ops_bench).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import psycopg2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def connect(db):
    return psycopg2.connect(host=os.environ["OPS_DB_HOST"], port=os.environ["OPS_DB_PORT"],
                            user=os.environ["OPS_DB_USER"], password=os.environ["OPS_DB_PASSWORD"], dbname=db)


def ensure_database(db, modules="ipai_ops_core"):
    with connect("postgres") as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db])
            exists = cr.fetchone()
    if exists:
        with connect(db) as conn, conn.cursor() as cr:
            cr.execute("SELECT count(*) FROM ir_module_module WHERE name = ANY(%s) AND state = 'installed'",
                       [modules.split(",")])
            if cr.fetchone()[0] == len(modules.split(",")):
                return
    print("installing %s into %s (once)..." % (modules, db), file=sys.stderr)
    odoo = os.path.join(os.environ["ODOO_SRC"], "odoo-bin")
    subprocess.run([sys.executable, odoo, "-c", os.environ["OPS_CONF"],
                    "--addons-path", "%s/addons,%s/addons" % (os.environ["ODOO_SRC"], REPO),
                    "--db_host", os.environ["OPS_DB_HOST"], "--db_port", os.environ["OPS_DB_PORT"],
                    "--db_user", os.environ["OPS_DB_USER"],
                    "-d", db, "-i", modules, "--without-demo=all", "--stop-after-init",
                    "--log-level=warn"], check=True)


def fill(cr, lines, runs):
    cr.execute("SELECT count(*) FROM ops_run_log")
    have = cr.fetchone()[0]
    if have >= lines:
        return have
    cr.execute("""
        INSERT INTO ops_project (name, slug, workspace_key, repo_url, default_branch, odoo_version, state,
                                 modules_mode, staging_commit_policy, dev_lifetime_days, staging_slots,
                                 run_sequence)
        VALUES ('Bench', 'bench', 'bench', '/srv/bench', 'main', '18.0', 'active', 'own', 'update', 7, 1, 0)
        ON CONFLICT DO NOTHING""")
    cr.execute("SELECT id FROM ops_project WHERE slug = 'bench'")
    project_id = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM ops_run WHERE project_id = %s", [project_id])
    if cr.fetchone()[0] < runs:
        cr.execute("""
            INSERT INTO ops_run (project_id, kind, number, state, priority, attempt, max_attempts)
            SELECT %s, 'build', n, 'succeeded', 10, 1, 1 FROM generate_series(1, %s) n""", [project_id, runs])
    cr.execute("SELECT min(id), max(id) FROM ops_run WHERE project_id = %s", [project_id])
    lo, hi = cr.fetchone()
    print("inserting %d log lines over %d runs..." % (lines - have, runs), file=sys.stderr)
    # Lines are interleaved across runs, as concurrent builds write them.
    cr.execute("""
        INSERT INTO ops_run_log (run_id, project_id, level, message, timestamp)
        SELECT %s + (n %% %s), %s,
               (ARRAY['debug','info','info','info','warn','error'])[1 + n %% 6],
               'odoo.modules.loading: module m' || (n %% 997) || ' loaded step ' || n || ' ' || md5(n::text),
               now() - make_interval(secs => %s - n)
          FROM generate_series(%s, %s) n""", [lo, hi - lo + 1, project_id, lines, have + 1, lines])
    cr.execute("ANALYZE ops_run_log")
    return lines


def make_baseline(cr):
    cr.execute("DROP TABLE IF EXISTS bench_run_log_baseline")
    cr.execute("CREATE TABLE bench_run_log_baseline AS SELECT * FROM ops_run_log")
    cr.execute("ALTER TABLE bench_run_log_baseline ADD PRIMARY KEY (id)")
    cr.execute("ANALYZE bench_run_log_baseline")


def timed(cr, sql, params, repeat):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        cr.execute(sql, params)
        cr.fetchall()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench")
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    ensure_database(args.db)
    conn = connect(args.db)
    conn.autocommit = True
    cr = conn.cursor()
    total = fill(cr, args.lines, args.runs)
    make_baseline(cr)
    cr.execute("SELECT run_id FROM ops_run_log ORDER BY id DESC LIMIT 1")
    run_id = cr.fetchone()[0]
    queries = {
        "tail of one run (200 lines)": (
            "SELECT id, level, message FROM {t} WHERE run_id = %s ORDER BY id DESC LIMIT 200", [run_id]),
        "count a run's warnings": (
            "SELECT count(*) FROM {t} WHERE run_id = %s AND level IN ('warn', 'error')", [run_id]),
        "text search (ilike, 20 hits)": (
            "SELECT id FROM {t} WHERE message ILIKE %s ORDER BY id DESC LIMIT 20", ["%step 1234567 %"]),
    }
    rows = []
    for name, (sql, params) in queries.items():
        ours = timed(cr, sql.format(t="ops_run_log"), params, args.repeat)
        base = timed(cr, sql.format(t="bench_run_log_baseline"), params, max(1, args.repeat // 2))
        rows.append({"query": name, "ours_ms": round(ours, 2), "baseline_ms": round(base, 2),
                     "ratio": round(ours / base, 4) if base else None})
    cr.execute("DROP TABLE bench_run_log_baseline")
    width = max(len(r["query"]) for r in rows)
    print("ops_run_log with %d lines over %d runs (median of %d)" % (total, args.runs, args.repeat))
    print("%s  %10s  %12s  %8s" % ("query".ljust(width), "ours ms", "baseline ms", "ratio"))
    for r in rows:
        print("%s  %10.2f  %12.2f  %8.4f" % (r["query"].ljust(width), r["ours_ms"], r["baseline_ms"], r["ratio"]))
    print(json.dumps({"bench": "run_log_queries", "lines": total, "runs": args.runs, "results": rows}))


if __name__ == "__main__":
    main()

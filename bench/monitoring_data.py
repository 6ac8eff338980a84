"""The scratch database of bench/monitoring.py: created with ipai_ops_core and
ipai_ops_monitoring installed, then filled with one project, --envs
environments, --days days of minute samples each (SQL generate_series, random
but plausible figures) and 13 months of hourly rollups (older hours by SQL,
the samples' hours by the model's own _ops_roll_up, timed); the last 5
minutes of samples added on demand (what /metrics reads).
"""

import os
import subprocess
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kill_recovery import odoo_cmd  # noqa: E402
from run_log_queries import connect  # noqa: E402

SLUG = "bench-mon"


def autocommit(db, *statements):
    conn = connect(db)
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            for sql in statements:
                cr.execute(sql)
    finally:
        conn.close()


def create_database(db):
    autocommit("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
    print("installing ipai_ops_core,ipai_ops_monitoring into %s ..." % db, file=sys.stderr)
    subprocess.run(odoo_cmd(db, "-i", "ipai_ops_core,ipai_ops_monitoring", "--without-demo=all",
                            "--stop-after-init"), check=True)


SAMPLE_SQL = """
INSERT INTO ops_metric_sample (environment_id, project_id, minute, cpu_pct, cpu_http_pct, cpu_cron_pct, mem_bytes,
    mem_limit_bytes, oom_kills, requests, req_2xx, req_3xx, req_4xx, req_5xx, p50_ms, p95_ms, p99_ms, concurrency,
    queries_per_request, sql_share, routes, unparsed, db_bytes, db_connections, longest_xact_s, lock_waits,
    filestore_bytes, health_ok, health_ms, backup_age_h)
SELECT env_id, project_id, minute, cpu, round(cpu * 0.7, 2), round(cpu * 0.1, 2), mem, 2147483648, 0,
       req, req - req / 20 - req / 40 - req / 100, req / 20, req / 40, req / 100,
       p50, round(p50 * (2 + random())::numeric, 1), round(p50 * (4 + 2 * random())::numeric, 1),
       CASE WHEN req > 0 THEN 1 + floor(random() * 6)::int END, CASE WHEN req > 0 THEN round(5 + 40 * random()) END,
       CASE WHEN req > 0 THEN round(random()::numeric * 0.6, 3) END,
       CASE WHEN req > 0 THEN jsonb_build_array(
           jsonb_build_object('route', '/web/dataset/call_kw/sale.order', 'max_ms', round(p50 * 7), 'count', req / 3),
           jsonb_build_object('route', '/web/action/load', 'max_ms', round(p50 * 5), 'count', req / 5),
           jsonb_build_object('route', '/odoo/action-:id/:id', 'max_ms', round(p50 * 4), 'count', req / 6),
           jsonb_build_object('route', '/mail/data', 'max_ms', round(p50 * 2), 'count', req / 8),
           jsonb_build_object('route', '/web/webclient/translations/:id', 'max_ms', round(p50), 'count', 1)) END,
       CASE WHEN req > 0 THEN 0 END, db_bytes, 1 + floor(random() * 8)::int, round(random()::numeric * 2, 3),
       (random() < 0.001)::int, db_bytes / 3, random() > 0.002, round((5 + random() * 40)::numeric, 1), NULL
  FROM (SELECT e.id AS env_id, e.project_id, m AS minute, 2.5e8 + 6.5e8 * random() AS mem,
               (e.id %% 20 + 1) * 1e8 + extract(epoch FROM m - %(start)s) * 10 AS db_bytes,
               CASE WHEN random() < 0.4 THEN 1 + floor(random() * 120)::int END AS req,
               round((20 + 80 * random())::numeric, 1) AS p50, round((1 + 60 * random())::numeric, 2) AS cpu
          FROM ops_environment e, generate_series(%(start)s, %(end)s, interval '1 minute') m
         WHERE e.id = ANY(%(ids)s)) s
    ON CONFLICT (environment_id, minute) DO NOTHING"""

ROLLUP_SQL = """
INSERT INTO ops_metric_rollup (environment_id, project_id, hour, minutes, health_failures, cpu_pct, cpu_http_pct,
    cpu_cron_pct, mem_bytes, mem_limit_bytes, oom_kills, requests, req_2xx, req_3xx, req_4xx, req_5xx, p50_ms, p95_ms,
    p99_ms, concurrency, queries_per_request, sql_share, unparsed, db_bytes, db_connections, longest_xact_s,
    lock_waits, filestore_bytes, health_ms, backup_age_h)
SELECT env_id, project_id, hour, 60, (random() < 0.01)::int, cpu, cpu * 0.7, cpu * 0.1, 9e8, 2147483648, 0,
       req, req - req / 20 - req / 40 - req / 100, req / 20, req / 40, req / 100, p50, p50 * 4, p50 * 7,
       1 + floor(random() * 8)::int, 5 + 40 * random(), random() * 0.5, 0, db_bytes, 8, random() * 3,
       (random() < 0.05)::int, db_bytes / 3, 5 + random() * 30, NULL
  FROM (SELECT e.id AS env_id, e.project_id, h AS hour, 1 + 30 * random() AS cpu, floor(random() * 2000)::int AS req,
               20 + 60 * random() AS p50, (e.id %% 20 + 1) * 1e8 AS db_bytes
          FROM ops_environment e, generate_series(%(start)s, %(end)s, interval '1 hour') h
         WHERE e.id = ANY(%(ids)s)) s"""


def fill(registry, args):
    """The project, its environments, samples and rollups; returns the environments' ids and the fill's figures."""
    from odoo import SUPERUSER_ID, api, fields

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        project = env["ops.project"].create({"name": "Bench monitoring", "slug": SLUG,
                                             "repo_url": "https://git.example.com/bench/mon.git"})
        envs = env["ops.environment"].create([{"project_id": project.id, "branch": "feature/mon-%03d" % i}
                                              for i in range(args.envs)])
        ids = envs.ids
        now = fields.Datetime.now().replace(second=0, microsecond=0)
        # History ends 10 minutes ago: /metrics's last 5 minutes get their rows when that phase starts.
        start, end = now - timedelta(days=args.days), now - timedelta(minutes=10)
        figures = {}
        began = time.perf_counter()
        cr.execute(SAMPLE_SQL, {"start": start, "end": end, "ids": ids})
        figures["samples"] = cr.rowcount
        figures["samples_insert_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        hour = start.replace(minute=0)  # older hours: 13 months (396 days) in all
        cr.execute(ROLLUP_SQL, {"start": hour - timedelta(days=396 - args.days), "end": hour - timedelta(hours=1),
                                "ids": ids})
        figures["rollups_sql"] = cr.rowcount
        figures["rollups_insert_s"] = round(time.perf_counter() - began, 1)
        cr.commit()
        for key in ("rollup_cron_first_s", "rollup_cron_again_s"):  # the hourly cron: rolls up every hour it has
            began = time.perf_counter()
            env["ops.metric.rollup"]._ops_roll_up(fields.Datetime.now())
            figures[key] = round(time.perf_counter() - began, 2)
            figures["rollup_cron_rows"] = cr.rowcount
            cr.commit()
    autocommit(args.db, "VACUUM ANALYZE ops_metric_sample", "VACUUM ANALYZE ops_metric_rollup")
    with registry.cursor() as cr:
        for table in ("ops_metric_sample", "ops_metric_rollup"):
            cr.execute("SELECT count(*), pg_total_relation_size(%s) FROM " + table, [table])
            count, size = cr.fetchone()
            figures[table] = {"rows": count, "mb": round(size / 2**20, 1)}
    return ids, figures


def recent_samples(registry, ids):
    """The last 5 minutes (what /metrics reads) for these environments."""
    from odoo import fields

    now = fields.Datetime.now().replace(second=0, microsecond=0)
    with registry.cursor() as cr:
        cr.execute(SAMPLE_SQL, {"start": now - timedelta(minutes=4), "end": now, "ids": ids})

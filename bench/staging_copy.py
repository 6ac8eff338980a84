#!/usr/bin/env python3
"""How long does a staging build's copy of production take?

Production: a 1 GB / 20,000-file Odoo database (bench/bigdb.py), served by a
real Odoo server while it is copied; a client hits it (GET /web/login and an
XML-RPC write) throughout and every answer is counted.

Same run, same data, one after the other:
  baseline    pg_dump -Fc | pg_restore (one stream) + cp -a of the filestore
  ours live   services/filestore.copy_database_live (pg_dump -Fd -j2 -Z0 of
              one snapshot, pg_restore -j2) + link_tree (hard links)
  ours backup the verified copy a restore drill keeps: CREATE DATABASE ...
              TEMPLATE + link_tree (the drill itself ran beforehand)

Usage (after `make test` or `make run` once):
    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/staging_copy.py'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bigdb  # noqa: E402
from backup_restore import odoo_setup  # noqa: E402


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client(threading.Thread):
    """Production's users while it is copied: page loads and writes."""

    def __init__(self, url, db):
        super().__init__(daemon=True)
        self.url, self.db = url, db
        self.stop, self.marks = threading.Event(), []
        self.ok = self.failed = self.writes = 0
        self.latencies = []

    def mark(self, name):
        self.marks.append((name, self.ok, self.failed))

    def run(self):
        common = xmlrpc.client.ServerProxy(self.url + "/xmlrpc/2/common")
        models = xmlrpc.client.ServerProxy(self.url + "/xmlrpc/2/object")
        uid = common.authenticate(self.db, "admin", "admin", {})
        i = 0
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                assert requests.get(self.url + "/web/login", timeout=30).status_code == 200
                if i % 5 == 0:
                    models.execute_kw(self.db, uid, "admin", "res.partner", "create", [{"name": "during copy %d" % i}])
                    self.writes += 1
                self.ok += 1
            except Exception:  # noqa: BLE001 - counted as a failure
                self.failed += 1
            self.latencies.append(time.monotonic() - started)
            i += 1
            time.sleep(0.1)


def drop(db):
    bigdb.drop(db)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="ipai_ops_bench_prod")
    parser.add_argument("--min-gb", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--work", default=os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "bench-work"))
    args = parser.parse_args()
    odoo_setup()
    from odoo.addons.ipai_ops_core.services import filestore

    data = bigdb.ensure(args.db, int(args.min_gb * 2**30), args.files, log=lambda m: print(m, file=sys.stderr))
    conn = bigdb.conn_params()
    src_store = bigdb.filestore(args.db)
    os.makedirs(args.work, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(bigdb.odoo_cmd(args.db, "--http-interface", "127.0.0.1", "--http-port", str(port),
                                             "--gevent-port", str(free_port()), "--workers", "0",
                                             "--max-cron-threads", "0", "--log-level", "warn",
                                             "--db-filter", "^%s$" % args.db),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    url = "http://127.0.0.1:%d" % port
    results, client = {}, None
    try:
        for _ in range(240):
            try:
                if requests.get(url + "/web/login", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        client = Client(url, args.db)
        client.start()
        time.sleep(2)

        # baseline: pg_dump | pg_restore + cp -a
        target, store = args.db + "_stg_base", os.path.join(args.work, "stg-base")
        drop(target)
        shutil.rmtree(store, ignore_errors=True)
        env = filestore.pg_env(conn)
        started = time.monotonic()
        bigdb.admin('CREATE DATABASE "%s" TEMPLATE template0' % target)
        dump = subprocess.Popen(["pg_dump", "-Fc", "--no-owner", "--dbname=%s" % args.db], stdout=subprocess.PIPE,
                                env=env, cwd="/")
        subprocess.run(["pg_restore", "--no-owner", "--dbname=%s" % target], stdin=dump.stdout, env=env, check=True,
                       cwd="/")
        dump.stdout.close()
        assert dump.wait() == 0
        db_done = time.monotonic()
        subprocess.run(["cp", "-a", src_store, store], check=True)
        results["baseline"] = time.monotonic() - started
        results["baseline_db"] = db_done - started
        client.mark("baseline")
        drop(target)
        shutil.rmtree(store, ignore_errors=True)

        # ours, from live production
        target, store = args.db + "_stg_live", os.path.join(args.work, "stg-live")
        drop(target)
        shutil.rmtree(store, ignore_errors=True)
        started = time.monotonic()
        bigdb.admin('CREATE DATABASE "%s" TEMPLATE template0' % target)
        timing = filestore.copy_database_live(conn, args.db, target, os.path.join(args.work, "dump-live"))
        fs_started = time.monotonic()
        linked = filestore.link_tree(src_store, store)
        results["live"] = time.monotonic() - started
        results.update(live_dump=timing["dump"], live_restore=timing["restore"],
                       live_filestore=time.monotonic() - fs_started, live_linked=linked["linked"])
        client.mark("live")

        # ours, from the verified backup copy (the drill kept it as a template)
        template = args.db + "_vbk"
        drop(template)
        bigdb.admin('ALTER DATABASE "%s" RENAME TO "%s"' % (target, template))
        target2, store2 = args.db + "_stg_tpl", os.path.join(args.work, "stg-tpl")
        drop(target2)
        shutil.rmtree(store2, ignore_errors=True)
        started = time.monotonic()
        bigdb.admin('CREATE DATABASE "%s" TEMPLATE "%s"' % (target2, template))
        filestore.link_tree(store, store2)
        results["template"] = time.monotonic() - started
        client.mark("template")
        for db in (template, target2):
            drop(db)
        for path in (store, store2):
            shutil.rmtree(path, ignore_errors=True)
    finally:
        if client:
            client.stop.set()
            client.join(timeout=30)
        server.terminate()
        server.wait(timeout=60)
    with bigdb.connect(args.db) as c, c.cursor() as cr:
        cr.execute("DELETE FROM res_partner WHERE name LIKE 'during copy %'")
    c.close()

    results["live_ratio"] = results["live"] / results["baseline"]
    results["template_ratio"] = results["template"] / results["baseline"]
    lat = sorted(client.latencies) or [0]
    results.update(prod_requests_ok=client.ok, prod_requests_failed=client.failed, prod_writes=client.writes,
                   prod_latency_p95=lat[int(len(lat) * 0.95) - 1 if len(lat) > 1 else 0], prod_latency_max=lat[-1],
                   database_bytes=data["size"], filestore_files=data["files"], cpus=os.cpu_count())
    print("database %.2f GB, %d filestore files (%.0f MB), %d CPUs" % (
        data["size"] / 2**30, data["files"], data["filestore_bytes"] / 1e6, os.cpu_count()))
    print("%-34s %9s %7s %8s" % ("staging data from", "time (s)", "ratio", "goal"))
    print("%-34s %9.1f %7s %8s" % ("baseline pg_dump|pg_restore + cp -a", results["baseline"], "1.000", ""))
    print("%-34s %9.1f %7.3f %8s" % ("ours, live production", results["live"], results["live_ratio"], "<= 0.8"))
    print("%-34s %9.1f %7.3f %8s" % ("ours, latest verified backup", results["template"], results["template_ratio"],
                                     "<= 0.2"))
    print("where the live copy's time goes: dump %.1fs, restore %.1fs, filestore links %.1fs (%d files)" % (
        results["live_dump"], results["live_restore"], results["live_filestore"], results["live_linked"]))
    print("production during the copies: %d requests answered, %d failed, %d writes, p95 %.2fs, max %.2fs" % (
        client.ok, client.failed, client.writes, results["prod_latency_p95"], results["prod_latency_max"]))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}, sort_keys=True))


if __name__ == "__main__":
    main()

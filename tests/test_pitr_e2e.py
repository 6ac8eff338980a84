"""Point-in-time recovery through the product (real Odoo, Docker, PostgreSQL,
pgBackRest): a production made on the shared server, production's cluster
set up by an Ops manager, that production moved onto it by its next deploy,
staging copied from it across servers, a logical accident in
production undone to the second into staging with `ops backup restore-pitr`
while production keeps answering, and wrong times refused with the window."""

import datetime
import json
import os
import shutil
import threading
import time
import xmlrpc.client

import psycopg2
import pytest
from e2e import (
    Poller,
    answers_within,
    logs_of,
    namespace,
    ops,
    run_monitor,
    run_worker,
    serves,
    shell,
    sql,
)
from odoo.addons.ipai_ops_backup.services import pitr
from pitr_prod import PITR, SLUG, _production_server, prod_sql, read_env
from probes import net_probe
from psycopg2 import sql as pgsql

UTC = datetime.timezone.utc


def test_existing_production_moved_by_its_next_deploy(server, pitr_project):
    """A production from before the cluster moves onto it with its next deploy: same
    database name and data, nothing of it left on the shared server, its rollback
    database on the cluster, and a visitor asking every 50 ms throughout got every
    answer (those that came during the copy waited for it)."""
    move, after = pitr_project["move"], read_env(server, pitr_project["production"])
    before, run = move["before"], move["run"]
    assert run["state"] == "succeeded", (run["error_message"], move["log"][-3000:])
    assert "onto production's cluster" in move["log"], move["log"][-3000:]
    assert after["db_cluster"] == "production" and after["database_name"] == before["database_name"], after
    db = after["database_name"]
    assert prod_sql(db, "SELECT value FROM ir_config_parameter WHERE key = 'pitr_e2e.before_move'") == [
        (move["mark"],)]
    assert not sql("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [db])
    assert serves(after["url"], db)
    previous = server.rpc("e2e_manager")("ops.environment", "read", [pitr_project["production"]],
                                         ["previous_database_name"])[0]["previous_database_name"]
    assert prod_sql("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [previous]), previous
    # The failed attempt: the reason named, production back on the shared server, its held requests served there.
    failed, between = move["failed"], move["between"]
    assert failed["state"] == "failed" and "belongs to role" in failed["error_message"], failed["error_message"]
    assert "rolled back automatically" in failed["error_message"], failed["error_message"]
    assert between["db_cluster"] == "shared" and between["database_name"] == before["database_name"], between
    assert between["container_id"] == before["container_id"], "the old container serves again"
    # A code-only deploy of a small database: requests wait in the relay, none fails.
    assert "requests wait meanwhile" in move["log"] and "Released" in move["log"], move["log"][-3000:]
    visitor = move["visitor"]
    assert len(visitor.answers) > 20, "the visitor kept asking during the move"
    assert visitor.failures() == [], visitor.failures()[:5]
    print("move onto production's cluster: %d answers, none failed, the longest took %.1fs"
          % (len(visitor.answers), max(visitor.durations)))


def test_production_lives_on_its_archived_cluster(server, pitr_project):
    prod = read_env(server, pitr_project["production"])
    assert prod["stage"] == "production" and prod["db_cluster"] == "production"
    # Its database is on production's cluster, not on the shared server.
    assert prod_sql("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [prod["database_name"]])
    assert not sql("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [prod["database_name"]])
    assert serves(prod["url"], prod["database_name"])
    # Staging was copied from it, across servers, and lives on the shared server.
    staging = read_env(server, pitr_project["staging"])
    assert staging["db_cluster"] == "shared" and "Copy of production" in staging["data_source"]
    assert sql("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [staging["database_name"]])


def test_only_production_reaches_its_cluster(server, pitr_project):
    """From inside the real containers: production's cluster port is open to production's
    network only; staging's network cannot even open a TCP connection to it."""
    prod, staging = read_env(server, pitr_project["production"]), read_env(server, pitr_project["staging"])
    port = PITR["port"]
    own = net_probe(prod["container_id"], [])["own_db_host"]
    got = net_probe(prod["container_id"], [
        {"id": "tcp", "tcp": [own, port]},
        {"id": "own db", "pg": {"host": own, "port": port, "dbname": prod["database_name"], "own": True}},
        {"id": "template1", "pg": {"host": own, "port": port, "dbname": "template1", "own": True}},
    ])["results"]
    assert got["tcp"] == "open" and got["own db"] == "CONNECTED", got
    assert got["template1"] != "CONNECTED", got
    gateway = net_probe(staging["container_id"], [])["own_db_host"]
    for user in (None, "0"):  # as Odoo's user, and as root in the container
        got = net_probe(staging["container_id"], [
            {"id": "tcp", "tcp": [gateway, port]},
            {"id": "pg", "pg": {"host": gateway, "port": port, "dbname": prod["database_name"], "own": True}},
            {"id": "loopback", "tcp": ["127.0.0.1", port]},
        ], user=user)["results"]
        assert got["tcp"] != "open" and got["loopback"] != "open" and got["pg"] != "CONNECTED", (user, got)


def test_accident_undone_into_staging_to_the_second(server, pitr_project, ops_bin):
    prod = read_env(server, pitr_project["production"])
    db = prod["database_name"]
    prod_sql(db, "CREATE TABLE pitr_probe (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    prod_sql(db, "CREATE TABLE pitr_ledger AS SELECT n AS id FROM generate_series(1, 50) n")
    rows, stop = [], threading.Event()

    def write():
        conn = psycopg2.connect(dbname=db, connect_timeout=10, **_production_server())
        try:
            while not stop.is_set():
                with conn, conn.cursor() as cr:
                    cr.execute("INSERT INTO pitr_probe DEFAULT VALUES RETURNING id, at")
                    row_id, at = cr.fetchone()
                rows.append((row_id, at, datetime.datetime.now(UTC)))
                stop.wait(0.1)
        finally:
            conn.close()

    writer = threading.Thread(target=write, daemon=True)
    with Poller(prod["url"], interval=0.2) as visitor:
        writer.start()
        time.sleep(3)
        accident = datetime.datetime.now(UTC)
        prod_sql(db, "DROP TABLE pitr_ledger")  # the logical accident
        time.sleep(1.5)
        target = (accident - datetime.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        # Wrong times are refused with the window, and nothing is queued.
        for wrong, why in (("2001-01-01 00:00:00", "outside what can be restored"), ("yesterday", "is not a time"),
                           ((datetime.datetime.now(UTC) + datetime.timedelta(hours=2)).strftime(
                               "%Y-%m-%d %H:%M:%S"), "in the future")):
            refused = ops(ops_bin, server, "e2e_admin", "backup", "restore-pitr", SLUG, "--at", wrong)
            assert refused.returncode != 0 and why in refused.stderr and "restorable window" in refused.stderr, \
                (wrong, refused.stdout, refused.stderr)
        # A developer may not restore into production.
        refused = ops(ops_bin, server, "e2e_dev", "backup", "restore-pitr", SLUG, "--at", target, "--to", "production")
        assert refused.returncode != 0, refused.stdout
        done = ops(ops_bin, server, "e2e_admin", "backup", "restore-pitr", SLUG, "--at", target, "--json")
        assert done.returncode == 0, done.stderr
        run_worker(server, projects=SLUG)
        stop.set()
        writer.join(10)
    queued = json.loads(done.stdout)
    run = server.rpc("e2e_manager")("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "succeeded", run["error_message"]
    # Production answered throughout.
    assert visitor.statuses() and not visitor.failures(allowed=(200, 303)), visitor.failures()[:3]
    staging = read_env(server, pitr_project["staging"])
    assert "as it was at" in staging["data_source"]
    assert serves(staging["url"], staging["database_name"])
    # The dropped table is back, whole; the rows are those committed before the second, none after.
    chosen = datetime.datetime.fromisoformat(target).replace(tzinfo=UTC)
    assert sql(staging["database_name"], "SELECT count(*) FROM pitr_ledger")[0][0] == 50
    restored = {r for (r,) in sql(staging["database_name"], "SELECT id FROM pitr_probe")}
    before = {i for i, _at, committed in rows if committed < chosen}
    after = {i for i, at, _committed in rows if at > chosen}
    assert before and before <= restored and not restored & after
    # The status says what can be restored, up to about now.
    status = ops(ops_bin, server, "e2e_admin", "backup", "pitr-status", SLUG, "--json")
    assert status.returncode == 0, status.stderr
    status = json.loads(status.stdout)
    assert status["on_cluster"] and status["earliest"] < target < status["latest"], status
    assert not status["failing"] and status["backups"], status


def test_drill_restores_a_mark_and_checks_that_moment(server, pitr_project, ops_bin):
    """Marks written down with rows added between them; a drill to a random one, then to
    each, restores that very moment (the other mark's counts would not match); a mark
    whose counts are not what the archive holds fails, naming the table; the verdict
    shows on production's Backups tab. A developer may neither mark nor drill."""
    manager = server.rpc("e2e_manager")
    db = read_env(server, pitr_project["production"])["database_name"]
    refused = ops(ops_bin, server, "e2e_dev", "backup", "mark-pitr", SLUG)
    assert refused.returncode != 0 and "drill" in refused.stderr, (refused.stdout, refused.stderr)
    marks = []
    for batch in (3, 5):
        prod_sql(db, "INSERT INTO res_partner (name, active) SELECT 'pitr drill ' || n, true "
                     "FROM generate_series(1, %s) n", [batch])
        done = ops(ops_bin, server, "e2e_admin", "backup", "mark-pitr", SLUG, "--json")
        assert done.returncode == 0, done.stderr
        marks.append(json.loads(done.stdout))
    assert marks[0]["counts"]["res_partner"][1] + 5 == marks[1]["counts"]["res_partner"][0], marks
    prod_sql(db, "DELETE FROM res_partner WHERE name LIKE 'pitr drill %%'")  # production goes on
    runs = []
    for args in ([], ["--mark", str(marks[0]["id"])], ["--mark", str(marks[1]["id"])]):
        done = ops(ops_bin, server, "e2e_admin", "backup", "drill-pitr", SLUG, "--json", *args)
        assert done.returncode == 0, done.stderr
        run_worker(server, projects=SLUG)
        runs.append(manager("ops.run", "api_read", [json.loads(done.stdout)["id"]]))
    assert [run["state"] for run in runs] == ["succeeded"] * 3, [run["error_message"] for run in runs]
    assert runs[0]["config"]["pitr_mark_id"] in [mark["id"] for mark in marks]
    verdicts = manager("ops.pitr.mark", "read", [mark["id"] for mark in marks], ["verify_state", "verify_message"])
    assert [v["verify_state"] for v in verdicts] == ["ok", "ok"], verdicts
    assert all("Odoo logs its administrator in" in v["verify_message"] for v in verdicts), verdicts
    # Odoo itself logged in: production's image opened the copy, its own login checked the password.
    assert "Opened in production's image: admin logged in as user 2 on Odoo 18.0" in logs_of(manager, runs[0]["id"])
    # Counts that are not what the archive holds at that moment: the drill fails and says where.
    done = ops(ops_bin, server, "e2e_admin", "backup", "mark-pitr", SLUG, "--json")
    wrong = json.loads(done.stdout)
    manager("ops.pitr.mark", "write", [wrong["id"]], {"counts": dict(wrong["counts"], res_partner=[1, 1])})
    done = ops(ops_bin, server, "e2e_admin", "backup", "drill-pitr", SLUG, "--mark", str(wrong["id"]), "--json")
    run_worker(server, projects=SLUG)
    failed = manager("ops.run", "api_read", [json.loads(done.stdout)["id"]])
    assert failed["state"] == "failed" and "res_partner has" in failed["error_message"], failed["error_message"]
    assert "1 at that time" in failed["error_message"], failed["error_message"]
    tab = manager("ops.environment", "read", [pitr_project["production"]], ["pitr_drill", "pitr_drill_failed"])[0]
    assert tab["pitr_drill_failed"] and "res_partner has" in tab["pitr_drill"], tab
    # Nothing of the drills is left on either server.
    scratch = ["drill_%s_%d" % (namespace(server), run["id"]) for run in runs + [failed]]
    for query in (sql, prod_sql):
        assert not query("postgres", "SELECT datname FROM pg_database WHERE datname = ANY(%s)", [scratch])


def test_restore_drill_keeps_its_verified_copy_off_the_archive(server, pitr_project, ops_bin):
    """A restore drill of production's nightly zip restores on the shared server: its
    scratch copy and the verified copy staging starts from are not written into the
    archived cluster (each would add a copy of production to the WAL archive)."""
    manager = server.rpc("e2e_manager")
    done = ops(ops_bin, server, "e2e_admin", "backup", "create", SLUG, "--json")
    assert done.returncode == 0, done.stderr
    run_worker(server, projects=SLUG)
    backup_id = json.loads(done.stdout)["backup"]["id"]
    server.rpc("e2e_admin")("ops.backup", "action_drill", [backup_id])
    run_worker(server, projects=SLUG)
    backup = manager("ops.backup", "read", [backup_id], ["verify_state", "verify_message"])[0]
    assert backup["verify_state"] == "ok", backup
    verified = "vbk_%s_%d" % (namespace(server), pitr_project["production"])
    # this control plane's drill databases (the suite's other stream drills on the same server meanwhile)
    query = "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s"
    drills = "drill\\_%s\\_%%" % namespace(server)
    assert sql("postgres", query, [verified, drills]) == [(verified,)]
    assert not prod_sql("postgres", query, [verified, drills])


def test_garbage_collector_sweeps_productions_cluster_too(server, pitr_project):
    """A database a run left behind on production's cluster (this control plane's name,
    production's role) goes with the lifecycle cron's collection; what production
    serves and would roll back to stays."""
    plane, prod_id = namespace(server), pitr_project["production"]
    orphan = "%s_%d_999999_left_behind" % (plane, prod_id)
    prod_sql("postgres", pgsql.SQL("CREATE DATABASE {} OWNER {}").format(
        pgsql.Identifier(orphan), pgsql.Identifier("ops_%s_e%d" % (plane, prod_id))))
    out = shell(server, "print('GC', env['ops.environment']._cron_collect_garbage())\nenv.cr.commit()\n")
    assert "GC" in out, out
    prod = server.rpc("e2e_manager")("ops.environment", "read", [prod_id],
                                     ["database_name", "previous_database_name"])[0]
    left = {row[0] for row in prod_sql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE %s",
                                       [plane + "_%"])}
    assert orphan not in left, left
    assert {prod["database_name"], prod["previous_database_name"]} <= left, (prod, left)


def test_broken_archiving_opens_an_incident_and_catches_up(server, pitr_project):
    """The repository unwritable: production keeps working, the monitor opens an incident at
    its next collection; once fixed, archiving catches up."""
    prod = read_env(server, pitr_project["production"])
    archive = os.path.join(PITR["root"], "repo", "archive")
    os.chmod(archive, 0o000)
    try:
        prod_sql(prod["database_name"], "CREATE TABLE pitr_noise AS SELECT 1 AS id")
        prod_sql("postgres", "SELECT pg_switch_wal()")
        deadline = time.monotonic() + 60
        while not prod_sql("postgres", "SELECT last_failed_time > coalesce(last_archived_time, 'epoch') "
                                       "FROM pg_stat_archiver")[0][0]:
            assert time.monotonic() < deadline, "archiving never failed"
            time.sleep(0.5)
        run_monitor(server)
        found = server.rpc("e2e_admin")("ops.incident", "search_read", [
            ("environment_id", "=", pitr_project["production"]), ("rule_id.metric", "=", "archive_failing")],
            ["state", "evidence"])
        assert len(found) == 1 and found[0]["state"] == "open", found
        assert serves(prod["url"], prod["database_name"])
        tab = server.rpc("e2e_admin")("ops.environment", "read", [pitr_project["production"]],
                                      ["pitr_failing", "pitr_state"])[0]
        assert tab["pitr_failing"] and "FAILS" in tab["pitr_state"], tab
    finally:
        os.chmod(archive, 0o750)
    prod_sql("postgres", "SELECT pg_switch_wal()")
    deadline = time.monotonic() + 120
    while prod_sql("postgres", "SELECT last_failed_time > last_archived_time FROM pg_stat_archiver")[0][0]:
        assert time.monotonic() < deadline, "archiving did not catch up"
        time.sleep(0.5)

def test_production_restored_in_place_from_its_form(server, pitr_project):
    """The environment form's Backups tab: the window and the archive's state, then the wizard
    restores production itself to a second (a backup first, the switch as for any restore)."""
    admin = server.rpc("e2e_admin")
    prod = read_env(server, pitr_project["production"])
    db = prod["database_name"]
    tab = admin("ops.environment", "read", [pitr_project["production"]], [
        "pitr_earliest", "pitr_latest", "pitr_lag", "pitr_last_wal", "pitr_failing", "pitr_repo_mb", "pitr_state"])[0]
    assert tab["pitr_earliest"] and tab["pitr_latest"] > tab["pitr_earliest"], tab
    assert not tab["pitr_failing"] and tab["pitr_last_wal"] and tab["pitr_repo_mb"] > 0, tab
    prod_sql(db, "CREATE TABLE pitr_invoices AS SELECT n AS id FROM generate_series(1, 20) n")
    time.sleep(1.5)
    before_accident = datetime.datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    time.sleep(1.5)
    prod_sql(db, "DELETE FROM pitr_invoices WHERE id > 5")
    # A developer of the project may not restore production.
    with pytest.raises(xmlrpc.client.Fault):
        wizard = server.rpc("e2e_dev")("ops.pitr.restore", "create", {
            "environment_id": pitr_project["production"], "at": before_accident, "target": "production"})
        server.rpc("e2e_dev")("ops.pitr.restore", "action_restore", [wizard])
    wizard = admin("ops.pitr.restore", "create", {"environment_id": pitr_project["production"], "at": before_accident,
                                                  "target": "production"})
    action = admin("ops.pitr.restore", "action_restore", [wizard])
    run_id = action["res_id"]
    with Poller(prod["url"], interval=0.2) as visitor:
        run_worker(server, projects=SLUG)
    run = server.rpc("e2e_manager")("ops.run", "api_read", [run_id])
    assert run["state"] == "succeeded", run["error_message"]
    # Production answered throughout: the page itself, or the maintenance page while it switched.
    assert not visitor.failures(allowed=(200, 303, 503)), visitor.failures()[:3]
    after = read_env(server, pitr_project["production"])
    assert after["database_name"] != db and after["db_cluster"] == "production"
    assert prod_sql(after["database_name"], "SELECT count(*) FROM pitr_invoices")[0][0] == 20
    assert serves(after["url"], after["database_name"])
    # A point before the restored database took over is in the database it replaced: refused, named.
    refused = admin("ops.environment", "read", [pitr_project["production"]], ["database_since"])[0]
    assert refused["database_since"] > before_accident
    with pytest.raises(xmlrpc.client.Fault, match="since"):
        admin("ops.pitr", "restore", SLUG, before_accident, "production")


def test_lost_cluster_rebuilt_from_its_repository(server, pitr_project, ops_bin):
    """Production's server killed and its data directory deleted: `ops backup recover-cluster`
    (Ops managers) rebuilds it from the repository and production answers again with its data."""
    prod = read_env(server, pitr_project["production"])
    prod_sql(prod["database_name"], "CREATE TABLE pitr_kept AS SELECT n AS id FROM generate_series(1, 7) n")
    prod_sql("postgres", "SELECT pg_switch_wal()")  # archived, as archive_timeout would do within a minute
    time.sleep(2)
    refused = ops(ops_bin, server, "e2e_manager", "backup", "recover-cluster")
    assert refused.returncode != 0 and "nothing to recover" in refused.stderr, refused.stderr
    with open(os.path.join(PITR["root"], "data", "postmaster.pid")) as pidfile:
        os.kill(int(pidfile.readline()), 9)
    shutil.rmtree(os.path.join(PITR["root"], "data"))
    refused = ops(ops_bin, server, "e2e_admin", "backup", "recover-cluster")
    assert refused.returncode != 0 and "Only Ops managers" in refused.stderr, refused.stderr
    done = ops(ops_bin, server, "e2e_manager", "backup", "recover-cluster", "--json")
    assert done.returncode == 0, done.stderr
    print("production's cluster rebuilt in %ss" % json.loads(done.stdout)["seconds"])
    answers_within(prod["url"], 60)
    # Odoo's pooled connections to the dead server fail once each, then it opens new ones.
    deadline = time.monotonic() + 60
    while not serves(prod["url"], prod["database_name"]):
        assert time.monotonic() < deadline, "production did not open its database again"
        time.sleep(1)
    assert prod_sql(prod["database_name"], "SELECT count(*) FROM pitr_kept")[0][0] == 7
    # It archives again (on its new timeline).
    assert not pitr.seal_archive(_production_server())["failing"]

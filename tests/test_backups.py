"""Backups for real: a production environment built in Docker, backed up
with pg_dump and its filestore, restored in place (switching only once the
new database answers), drilled, corrupted, downloaded as an Odoo database
manager zip, imported into a development environment (neutralized), and a
backup whose worker is killed mid-dump cleaned up and taken again.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import zipfile

import pytest
import requests
from conftest import _free_port, _odoo_cmd
from e2e import Poller, admin_sql, docker_ready, git, namespace, ops, remove_leftovers, run_worker, shell, sql

SLUG = "bk-e2e"
ADDON = "ops_bk_addon"
MANIFEST = """{"name": "Backup E2E addon", "version": "18.0.1.0.0", "depends": ["base"], "license": "LGPL-3",
 "installable": True}
"""


def worker(server):
    run_worker(server, projects=SLUG)


@pytest.fixture(scope="module")
def prod(server, tmp_path_factory):
    """Project bk-e2e with a production environment built from main."""
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    root = tmp_path_factory.mktemp("bkgit")
    work = root / "work"
    (work / ADDON).mkdir(parents=True)
    (work / ADDON / "__init__.py").write_text("")
    (work / ADDON / "__manifest__.py").write_text(MANIFEST)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "addon", cwd=work)
    git("branch", "feature-import", cwd=work)
    git("branch", "release/from-backup", cwd=work)
    bare = root / "bk.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    manager = server.rpc("e2e_manager")
    uids = server.uids
    project_id = manager("ops.project", "create", {
        "name": "Backup E2E", "slug": SLUG, "repo_url": "file://%s" % bare, "test_tags": "/%s" % ADDON,
        "mem_limit_mb": 1024, "member_ids": [(0, 0, {"user_id": uids["e2e_admin"], "role": "admin"}),
                                             (0, 0, {"user_id": uids["e2e_dev"], "role": "developer"})]})
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "main"})
    worker(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "succeeded", run["error_message"]
    env = manager("ops.environment", "read", [queued["environment_id"]], ["stage", "database_name", "url", "port"])[0]
    assert env["stage"] == "production"
    yield {"project_id": project_id, "env_id": queued["environment_id"], **env}
    remove_leftovers(SLUG)


def env_of(server, env_id):
    return server.rpc("e2e_manager")("ops.environment", "read", [env_id],
                                     ["database_name", "url", "port", "state", "data_source", "container_id",
                                      "db_role"])[0]


def backup_of(server, backup_id):
    return server.rpc("e2e_manager")("ops.backup", "read", [backup_id], [
        "state", "location", "manifest", "size", "kind", "verify_state", "verify_message", "error_message",
        "run_id", "database_name", "started_at"])[0]


def partners(dbname, name):
    return sql(dbname, "SELECT count(*) FROM res_partner WHERE name = %s", [name])[0][0]


def test_backup_then_restore_in_place(server, prod, ops_bin):
    import xmlrpc.client

    db = prod["database_name"]
    sql(db, "INSERT INTO res_partner (name, active) VALUES ('Before backup', true)")

    # A developer may not take production backups.
    with pytest.raises(xmlrpc.client.Fault) as refused:
        server.rpc("e2e_dev")("ops.backup", "create_backup", {"project": SLUG})
    assert "may not" in refused.value.faultString

    created = ops(ops_bin, server, "e2e_admin", "backup", "create", SLUG, "--json")
    assert created.returncode == 0, created.stderr
    backup_id = json.loads(created.stdout)["backup"]["id"]
    worker(server)
    backup = backup_of(server, backup_id)
    assert backup["state"] == "done", backup["error_message"]
    listed = ops(ops_bin, server, "e2e_admin", "backup", "list", SLUG, "--json")
    assert [b["state"] for b in json.loads(listed.stdout) if b["id"] == backup_id] == ["done"]

    # The backup on disk: a pg_dump directory, the filestore tar, a manifest
    # with the modules, the row counts and a sha256 of every file.
    location, manifest = backup["location"], backup["manifest"]
    assert sorted(os.listdir(location)) == ["db", "filestore.tar", "manifest.json"]
    assert os.path.exists(os.path.join(location, "db", "toc.dat"))
    assert manifest["modules"][ADDON] == "18.0.1.0.0" and manifest["odoo_version"].startswith("18.0")
    assert manifest["row_counts"]["res_partner"] == sql(db, "SELECT count(*) FROM res_partner")[0][0]
    for rel, digest in manifest["files"].items():
        out = subprocess.run(["sha256sum", os.path.join(location, rel)], capture_output=True, text=True, check=True)
        assert out.stdout.split()[0] == digest, rel
    assert manifest["filestore_files"] > 0, "the filestore (attachments) is part of the backup"

    # Written after the backup: gone after the restore, but kept in the
    # pre-restore backup the restore takes first.
    sql(db, "INSERT INTO res_partner (name, active) VALUES ('After backup', true)")
    restored = ops(ops_bin, server, "e2e_admin", "backup", "restore", str(backup_id), "--json")
    assert restored.returncode == 0, restored.stderr
    run_id = json.loads(restored.stdout)["id"]
    # The restored database is served next to the current one, then the proxy switches.
    with Poller(prod["url"]) as visitor:
        worker(server)
    run = server.rpc("e2e_manager")("ops.run", "api_read", [run_id])
    assert run["state"] == "succeeded", run["error_message"]
    assert visitor.failures() == [], visitor.failures()[:3]
    env = env_of(server, prod["env_id"])
    assert env["database_name"] != db and env["url"] == prod["url"], "a new database, on the same URL"
    assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
    assert partners(env["database_name"], "Before backup") == 1
    assert partners(env["database_name"], "After backup") == 0
    assert not admin_sql("SELECT 1 FROM pg_database WHERE datname = '%s'" % db), "the old database is dropped"
    assert "backup of bk-e2e/main" in env["data_source"]
    pre = server.rpc("e2e_manager")("ops.backup", "search_read", [("run_id", "=", run_id)],
                                    fields=["kind", "state", "manifest"])
    assert [(p["kind"], p["state"]) for p in pre] == [("pre_restore", "done")]
    assert pre[0]["manifest"]["row_counts"]["res_partner"] == manifest["row_counts"]["res_partner"] + 1
    prod.update(backup_id=backup_id, pre_id=pre[0]["id"], database_name=env["database_name"])


def test_restore_drill_and_a_corrupted_backup(server, prod):
    manager = server.rpc("e2e_manager")
    shell(server, 'env["ops.backup"]._cron_restore_drills()\nenv.cr.commit()\n')
    worker(server)
    latest = backup_of(server, prod["pre_id"])
    assert latest["verify_state"] == "ok", latest["verify_message"]
    template = "vbk_%s_%d" % (namespace(server), prod["env_id"])
    comment = admin_sql("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '%s'"
                        % template)
    assert comment and json.loads(comment[0][0])["backup_id"] == prod["pre_id"], \
        "the verified copy is kept as a template"
    assert not admin_sql("SELECT 1 FROM pg_database WHERE datname LIKE 'drill\\_%s\\_%%'" % namespace(server)), \
        "scratch databases go"

    # A damaged file is caught by its checksum: the drill fails and tells the
    # admins, a restore refuses it and production stays as it was.
    first = backup_of(server, prod["backup_id"])
    data_file = sorted(f for f in os.listdir(os.path.join(first["location"], "db")) if f.endswith(".gz"))[-1]
    with open(os.path.join(first["location"], "db", data_file), "r+b") as fh:
        fh.seek(10)
        fh.write(b"\x00corrupt")
    server.rpc("e2e_admin")("ops.backup", "action_drill", [prod["backup_id"]])
    worker(server)
    first = backup_of(server, prod["backup_id"])
    assert first["verify_state"] == "failed" and "checksum mismatch" in first["verify_message"]
    activities = manager("mail.activity", "search_read", [("res_model", "=", "ops.project"),
                                                          ("res_id", "=", prod["project_id"])],
                         fields=["summary", "user_id"])
    assert any("Restore drill failed" in a["summary"] and a["user_id"][0] == server.uids["e2e_admin"]
               for a in activities), activities
    before = env_of(server, prod["env_id"])
    run = server.rpc("e2e_admin")("ops.backup", "restore_backup", [prod["backup_id"]])
    worker(server)
    run = manager("ops.run", "api_read", [run["id"]])
    assert run["state"] == "failed" and "damaged" in run["error_message"]
    after = env_of(server, prod["env_id"])
    assert after["database_name"] == before["database_name"] and after["container_id"] == before["container_id"]
    assert requests.get(after["url"] + "/web/login", timeout=30).status_code == 200


def test_staging_from_the_latest_verified_backup(server, prod):
    """The copy the drill verified is the staging data: a template copy, not a dump."""
    server.rpc("e2e_admin")("ops.project", "write", [prod["project_id"]], {"staging_source": "backup"})
    manager = server.rpc("e2e_manager")
    try:
        queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/from-backup"})
        worker(server)
        run = manager("ops.run", "api_read", [queued["id"]])
        assert run["state"] == "succeeded", run["error_message"]
        env = manager("ops.environment", "read", [queued["environment_id"]],
                      ["stage", "database_name", "data_source"])[0]
        assert env["stage"] == "staging"
        assert env["data_source"].startswith("Production backup taken"), env["data_source"]
        assert partners(env["database_name"], "After backup") == 1, "the drilled backup's data"
        neutralized = "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        assert sql(env["database_name"], neutralized) == [("true",)]
        logs = "\n".join(line["message"] for line in manager(
            "ops.run.log", "search_read", [("run_id", "=", queued["id"])], fields=["message"]))
        assert "Copying production" not in logs, "production is not touched"
    finally:
        server.rpc("e2e_admin")("ops.project", "write", [prod["project_id"]], {"staging_source": "production"})


def test_download_and_import_into_development(server, prod, ops_bin, tmp_path):
    url = "%s/ipai_ops/backup/%d/download" % (server.url, prod["pre_id"])
    for login, status in (("e2e_dev", 403), ("e2e_outsider", 404)):
        refused = requests.get(url, headers={"Authorization": "Bearer %s" % server.keys[login]}, timeout=60)
        assert refused.status_code in (status, 403, 404), (login, refused.status_code)
        assert refused.headers["Content-Type"].startswith("application/json")
    assert requests.get(url, timeout=60).status_code == 401
    target = tmp_path / "prod.zip"
    done = ops(ops_bin, server, "e2e_admin", "backup", "download", str(prod["pre_id"]), "-o", str(target))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
        assert "dump.sql" in names and "manifest.json" in names
        assert any(n.startswith("filestore/") for n in names)
        assert json.loads(zf.read("manifest.json"))["modules"][ADDON] == "18.0.1.0.0"
        assert b"After backup" in zf.read("dump.sql")

    # Into a development environment, neutralized like a staging copy.
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "feature-import"})
    worker(server)
    built = manager("ops.run", "api_read", [queued["id"]])
    assert built["state"] == "succeeded", built["error_message"]
    dev_env = queued["environment_id"]
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"not a zip")
    bad = ops(ops_bin, server, "e2e_admin", "backup", "import", str(not_zip), "--environment-id", str(dev_env))
    assert bad.returncode == 1 and "not a zip" in bad.stderr
    refused = ops(ops_bin, server, "e2e_dev", "backup", "import", str(target), "--environment-id", str(dev_env))
    assert refused.returncode == 1 and "(403)" in refused.stderr
    refused = ops(ops_bin, server, "e2e_admin", "backup", "import", str(target), "--environment-id",
                  str(prod["env_id"]))
    assert refused.returncode == 1 and "never production" in refused.stderr
    imported = ops(ops_bin, server, "e2e_admin", "backup", "import", str(target), "--environment-id", str(dev_env),
                   "--json")
    assert imported.returncode == 0, imported.stderr
    worker(server)
    run = manager("ops.run", "api_read", [json.loads(imported.stdout)["id"]])
    assert run["state"] == "succeeded", run["error_message"]
    env = env_of(server, dev_env)
    dbname = env["database_name"]
    assert partners(dbname, "After backup") == 1, "production's data is in the development environment"
    assert sql(dbname, "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'") == [("true",)]
    active = sql(dbname, "SELECT a.model_name FROM ir_cron c JOIN ir_act_server a ON a.id = c.ir_actions_server_id"
                         " WHERE c.active")
    assert active == [("ir.autovacuum",)], active
    # The mail catcher as the environment's container reaches it: its network's gateway.
    gateway = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
                              env["container_id"]], capture_output=True, text=True, check=True).stdout.strip()
    assert gateway and sql(dbname, "SELECT smtp_host FROM ir_mail_server WHERE active") == [(gateway,)], \
        "the only active mail server is the mail catcher"
    assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
    assert env["data_source"].startswith("Imported")


def test_killed_worker_leaves_no_partial_backup(server, prod):
    db = env_of(server, prod["env_id"])["database_name"]
    role = env_of(server, prod["env_id"])["db_role"]
    # Enough data that pg_dump runs for a few seconds.
    sql(db, "SET ROLE %s; CREATE TABLE x_ballast AS SELECT g, md5(g::text) || repeat(md5(g::text), 6) AS t "
            "FROM generate_series(1, 1500000) g" % role)
    try:
        backup = server.rpc("e2e_admin")("ops.backup", "create_backup", {"project": SLUG})
        cmd = _odoo_cmd(server.db)
        addons = cmd[cmd.index("--addons-path") + 1]
        proc = subprocess.Popen([*cmd[:2], "--addons-path=%s" % addons, "ops-worker", *cmd[2:], "--worker-id",
                                 "doomed", "--projects", SLUG, "--once", "--log-level=warn"],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, partial = time.monotonic() + 120, None
        while time.monotonic() < deadline and not partial:
            record = backup_of(server, backup["id"])
            if record["state"] == "running" and os.path.isdir(record["location"] + ".partial"):
                partial, first_start = record["location"] + ".partial", record["started_at"]
            time.sleep(0.2)
        assert partial, "the backup never started"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert os.path.isdir(partial)
        # The reaper finds the stale heartbeat and requeues the run: the
        # backup is pending again and its partial files are gone.
        shell(server, 'env["ir.config_parameter"].set_param("ipai_ops.heartbeat_timeout_seconds", "10")\n'
                      'import time; time.sleep(11)\nenv["ops.run"]._cron_reap_stale_runs()\n'
                      'env["ir.config_parameter"].set_param("ipai_ops.heartbeat_timeout_seconds", "300")\n'
                      'env.cr.commit()\n')
        record = backup_of(server, backup["id"])
        assert record["state"] == "pending" and not os.path.exists(partial)
        worker(server)
        record = backup_of(server, backup["id"])
        assert record["state"] == "done", record["error_message"]
        assert record["manifest"]["row_counts"]["res_partner"] > 0
        assert first_start and record["started_at"] == first_start, "the backup keeps its first attempt's start"
    finally:
        sql(db, "DROP TABLE IF EXISTS x_ballast")


@pytest.fixture()
def s3(server):
    """A local S3-compatible server (moto) as the off-site backup storage."""
    import boto3

    moto = os.path.join(os.environ.get("OPS_MOTO_VENV", "/opt/ipai-ops/moto-venv"), "bin", "moto_server")
    if not os.path.exists(moto):
        pytest.fail("moto_server is missing: scripts/setup.sh installs it into $OPS_MOTO_VENV")
    port = _free_port()
    proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    endpoint = "http://127.0.0.1:%d" % port
    try:
        for _ in range(100):
            try:
                requests.get(endpoint, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                              region_name="us-east-1")
        client.create_bucket(Bucket="ipai-ops-offsite")
        shell(server, "p = env['ir.config_parameter']\n"
                      "p.set_param('ipai_ops.backup_s3_endpoint', '%s')\n"
                      "p.set_param('ipai_ops.backup_s3_bucket', 'ipai-ops-offsite')\n"
                      "p.set_param('ipai_ops.backup_s3_access_key', 'test')\n"
                      "p.set_param('ipai_ops.backup_s3_secret_key', 'test')\nenv.cr.commit()\n" % endpoint)
        yield client
    finally:
        shell(server, "env['ir.config_parameter'].set_param('ipai_ops.backup_s3_bucket', False)\nenv.cr.commit()\n")
        proc.terminate()
        proc.wait(timeout=30)


def test_offsite_copy_in_s3_restores_when_the_local_copy_is_gone(server, prod, s3):
    backup = server.rpc("e2e_admin")("ops.backup", "create_backup", {"project": SLUG})
    worker(server)
    record = backup_of(server, backup["id"])
    assert record["state"] == "done", record["error_message"]
    offsite = server.rpc("e2e_manager")("ops.backup", "read", [backup["id"]], ["offsite_location"])[0]
    prefix = offsite["offsite_location"].split("/", 3)[3]
    assert offsite["offsite_location"].startswith("s3://ipai-ops-offsite/")
    keys = {o["Key"][len(prefix) + 1:] for o in s3.list_objects_v2(Bucket="ipai-ops-offsite",
                                                                    Prefix=prefix)["Contents"]}
    assert {"manifest.json", "filestore.tar", "db/toc.dat"} <= keys
    assert keys == set(record["manifest"]["files"]) | {"manifest.json"}

    # The local copy is lost: a restore drill fetches the off-site one.
    shutil.rmtree(record["location"])
    server.rpc("e2e_admin")("ops.backup", "action_drill", [backup["id"]])
    worker(server)
    record = backup_of(server, backup["id"])
    assert record["verify_state"] == "ok", record["verify_message"]

    # Retention removes the off-site copy too.
    shell(server, "env['ops.backup'].browse(%d)._remove_files()\nenv.cr.commit()\n" % backup["id"])
    assert not s3.list_objects_v2(Bucket="ipai-ops-offsite", Prefix=prefix).get("Contents")

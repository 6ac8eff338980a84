"""Staging as a fresh neutralized copy of production, promotion of the exact
staging image with approvals, automatic rollback of a failed deploy, and
`ops env rollback`: real Docker, PostgreSQL, git and Odoo, end to end.
"""

import json
import subprocess
import threading
import time
import xmlrpc.client

import pytest
import requests
from e2e import (
    Poller,
    admin_sql,
    docker_ready,
    env_secret,
    git,
    leftovers,
    logs_of,
    ops,
    reap,
    remove_leftovers,
    run_worker,
    sql,
    worker_cmd,
)
from probes import probe_from

SLUG = "stg-e2e"
ADDON = "ops_stg_addon"
MANIFEST = """{"name": "Staging E2E addon", "version": "%s", "depends": ["mail"], "license": "LGPL-3",
 "data": %s, "installable": True}
"""
PARTNER_XML = """<odoo><record id="partner_%s" model="res.partner"><field name="name">%s</field></record></odoo>
"""


def worker(server):
    run_worker(server, projects=SLUG)


def commit(work, version, data_files, message, branch):
    git("checkout", "-q", branch, cwd=work)
    (work / ADDON / "__manifest__.py").write_text(MANIFEST % (version, json.dumps(data_files)))
    git("add", "-A", cwd=work)
    git("commit", "-qm", message, cwd=work)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("stggit")
    work = root / "work"
    (work / ADDON / "data").mkdir(parents=True)
    (work / ADDON / "__init__.py").write_text("")
    (work / ADDON / "__manifest__.py").write_text(MANIFEST % ("18.0.1.0.0", "[]"))
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "addon 1.0.0", cwd=work)
    git("branch", "release/next", cwd=work)
    bare = root / "stg.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    git("remote", "add", "origin", str(bare), cwd=work)
    return {"work": work, "url": "file://%s" % bare}


def push(repo, branch):
    git("push", "-q", "origin", branch, cwd=repo["work"])


@pytest.fixture(scope="module")
def project(server, repo, catcher):
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    uids = server.uids
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {
        "name": "Staging E2E", "slug": SLUG, "repo_url": repo["url"], "production_approval": True,
        "mem_limit_mb": 1024,
        "staging_scrub_sql": "UPDATE res_partner SET email = NULL WHERE email LIKE '%@customer.example'",
        "member_ids": [(0, 0, {"user_id": uids["e2e_admin"], "role": "admin"}),
                       (0, 0, {"user_id": uids["e2e_tester"], "role": "tester"})]})
    # The first production deploy (no demo data): a push to main would queue it too.
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "branch": "main"})
    assert queued["state"] == "waiting_approval", "production needs an approval in this project"
    server.rpc("e2e_admin")("ops.run", "approve_run", [queued["id"]])
    worker(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "succeeded", run["error_message"]
    prod = manager("ops.environment", "read", [queued["environment_id"]], ["stage", "database_name", "url", "port"])[0]
    assert prod["stage"] == "production"
    assert sql(prod["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Mitchell Admin'")[0][0] == 0, \
        "production is installed without demo data"
    common = xmlrpc.client.ServerProxy(prod["url"] + "/xmlrpc/2/common")
    assert common.authenticate(prod["database_name"], "admin", "admin", {}) is False, "never admin/admin"
    yield {**prod, "project_id": project_id, "prod_env": queued["environment_id"]}
    remove_leftovers(SLUG)


def prod_env(server, project):
    return server.rpc("e2e_manager")("ops.environment", "read", [project["prod_env"]], [
        "database_name", "url", "port", "image_digest", "previous_image_digest", "previous_database_name",
        "container_id", "container_ip"])[0]


def test_staging_is_a_neutralized_copy_of_live_production(server, project, catcher):
    prod_db = project["database_name"]
    sql(prod_db, "INSERT INTO res_partner (name, email, active) VALUES ('Made in production', "
                 "'anna@customer.example', true)")
    sql(prod_db, "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, smtp_authentication, "
                 "active, sequence) VALUES ('Real SMTP', 'smtp.customer.example', 25, 'none', 'login', true, 1)")
    assert sql(prod_db, "SELECT count(*) FROM ir_cron WHERE active")[0][0] > 1

    # Production answers requests throughout the copy.
    answers, stop = [], threading.Event()

    def hit():
        while not stop.is_set():
            try:
                answers.append(requests.get(project["url"] + "/web/login", timeout=10).status_code)
            except requests.RequestException as exc:
                answers.append(repr(exc))
            time.sleep(0.2)

    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/next"})
    client = threading.Thread(target=hit)
    client.start()
    try:
        worker(server)
    finally:
        stop.set()
        client.join()
    run = manager("ops.run", "api_read", [queued["id"]])
    logs = "\n".join(line["message"] for line in manager("ops.run.log", "search_read", [("run_id", "=", queued["id"])],
                                                          fields=["message"]))
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert len(answers) > 5 and set(answers) == {200}, answers
    assert "Copying production" in logs and "hard-linked" in logs and "odoo neutralize" in logs

    env = manager("ops.environment", "read", [queued["environment_id"]],
                  ["stage", "database_name", "url", "data_source", "port", "container_id", "db_role"])[0]
    db = env["database_name"]
    assert env["stage"] == "staging" and db != prod_db
    assert env["data_source"].startswith("Copy of production")
    assert sql(db, "SELECT count(*) FROM res_partner WHERE name = 'Made in production'") == [(1,)]
    assert sql(db, "SELECT email FROM res_partner WHERE name = 'Made in production'") == [(None,)], "scrub SQL ran"
    assert sql(db, "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'") == [("true",)]
    active = sql(db, "SELECT a.model_name FROM ir_cron c JOIN ir_act_server a ON a.id = c.ir_actions_server_id"
                     " WHERE c.active")
    assert active == [("ir.autovacuum",)], active
    servers = sql(db, "SELECT smtp_host, smtp_port FROM ir_mail_server WHERE active")
    gateway = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
                              env["container_id"]], capture_output=True, text=True, check=True).stdout.strip()
    # the catcher as staging's container reaches it: its network's gateway (127.0.0.1 is the container itself)
    assert servers == [(gateway, catcher)], "only the mail catcher: %s (gateway %s)" % (servers, gateway)
    assert sql(prod_db, "SELECT count(*) FROM ir_mail_server WHERE active AND smtp_host = 'smtp.customer.example'") \
        == [(1,)], "production itself is untouched"
    assert sql(db, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()") == \
        [(env["db_role"],)], "the staging copy belongs to staging's own role"

    # From inside the staging container, with every credential it can see:
    # its own copy opens, production's database does not.
    probe = probe_from(env["container_id"], db, prod_db)
    assert probe["own"] == "ok" and probe["target"], probe
    assert not [outcome for _user, outcome in probe["target"] if outcome == "CONNECTED"], probe

    # Mail sent by staging is caught and shown on the environment.
    staging = xmlrpc.client.ServerProxy(env["url"] + "/xmlrpc/2/object", allow_none=True)
    # Odoo's default admin/admin does not open a staging copy; the platform's own password does.
    common = xmlrpc.client.ServerProxy(env["url"] + "/xmlrpc/2/common")
    assert common.authenticate(db, "admin", "admin", {}) is False
    password = env_secret(server, queued["environment_id"], "admin_password")
    uid = common.authenticate(db, "admin", password, {})
    assert uid == 2
    mail_id = staging.execute_kw(db, uid, password, "mail.mail", "create", [{
        "subject": "Your invoice from staging", "email_to": "anna@customer.example", "body_html": "<p>Hello</p>"}])
    try:
        staging.execute_kw(db, uid, password, "mail.mail", "send", [[mail_id]])
    except xmlrpc.client.Fault as exc:  # send() returns None, which Odoo's XML-RPC cannot marshal
        assert "cannot marshal None" in exc.faultString, exc.faultString
    state = staging.execute_kw(db, uid, password, "mail.mail", "search_read", [[("id", "=", mail_id)]],
                               {"fields": ["state", "failure_reason"]})
    assert not state or state[0]["state"] == "sent", state
    caught = manager("ops.mail", "search_read", [("environment_id", "=", queued["environment_id"])],
                     fields=["subject", "recipients"])
    assert [(m["subject"], m["recipients"]) for m in caught] == [("Your invoice from staging", "anna@customer.example")]

    # A second staging build gets a new database; the previous one goes.
    # This one with Odoo's obfuscate on (the project's option).
    server.rpc("e2e_admin")("ops.project", "write", [project["project_id"]], {"staging_obfuscate": True})
    try:
        again = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/next"})
        worker(server)
    finally:
        server.rpc("e2e_admin")("ops.project", "write", [project["project_id"]], {"staging_obfuscate": False})
    assert manager("ops.run", "api_read", [again["id"]])["state"] == "succeeded"
    env2 = manager("ops.environment", "read", [queued["environment_id"]], ["database_name"])[0]
    assert env2["database_name"] not in (db, prod_db)
    assert not admin_sql("SELECT 1 FROM pg_database WHERE datname = '%s'" % db)
    count = "SELECT count(*) FROM res_partner"
    assert sql(env2["database_name"], count) == sql(prod_db, count), "same partners"
    assert sql(env2["database_name"], count + " WHERE name = 'Made in production'") == [(0,)], "names obfuscated"

    # A push with "update the current build": the staging data stays (copied
    # into a new database), the code is the new commit's.
    sql(env2["database_name"], "INSERT INTO res_partner (name, active) VALUES ('Made in staging', true)")
    pushed = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/next",
                                              "config": {"trigger": "push"}})
    worker(server)
    assert manager("ops.run", "api_read", [pushed["id"]])["state"] == "succeeded"
    env3 = manager("ops.environment", "read", [queued["environment_id"]], ["database_name", "data_source"])[0]
    assert env3["database_name"] != env2["database_name"]
    assert env3["data_source"].startswith("Copy of production"), "where the kept data came from"
    assert sql(env3["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Made in staging'") == [(1,)]
    project["staging_env"] = queued["environment_id"]


def test_promotion_deploys_the_exact_staging_image_after_approval(server, project, repo, ops_bin):
    manager = server.rpc("e2e_manager")
    (repo["work"] / ADDON / "data" / "partner.xml").write_text(PARTNER_XML % ("v101", "Added in 1.0.1"))
    commit(repo["work"], "18.0.1.0.1", ["data/partner.xml"], "1.0.1: a partner", "release/next")
    push(repo, "release/next")
    staged = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/next"})
    worker(server)
    assert manager("ops.run", "api_read", [staged["id"]])["state"] == "succeeded"
    staging = manager("ops.environment", "read", [project["staging_env"]], ["image_digest"])[0]
    before = prod_env(server, project)

    with pytest.raises(xmlrpc.client.Fault) as refused:
        server.rpc("e2e_tester")("ops.environment", "promote", [project["staging_env"]])
    assert "may not" in refused.value.faultString
    promoted = ops(ops_bin, server, "e2e_admin", "env", "promote", SLUG, "release/next", "--json")
    assert promoted.returncode == 0, promoted.stderr
    run = json.loads(promoted.stdout)
    assert run["state"] == "waiting_approval"
    with pytest.raises(xmlrpc.client.Fault):
        server.rpc("e2e_tester")("ops.run", "approve_run", [run["id"]])
    server.rpc("e2e_admin")("ops.run", "approve_run", [run["id"]])
    # A module is updated: the visitor sees the maintenance page, never an error.
    with Poller(before["url"]) as visitor:
        worker(server)
    done = manager("ops.run", "api_read", [run["id"]])
    logs = "\n".join(line["message"] for line in manager("ops.run.log", "search_read", [("run_id", "=", run["id"])],
                                                          fields=["message"]))
    assert done["state"] == "succeeded", (done["error_message"], logs[-3000:])
    assert visitor.failures(allowed=(200, 503)) == [], visitor.failures(allowed=(200, 503))[:3]
    pages = [answer for answer in visitor.answers if answer[0] == 503]
    assert pages, "the maintenance page was up while the database was updated"
    assert all(retry == "30" and "Staging E2E is being updated" in text and "Traceback" not in text
               for _status, retry, text in pages), pages[0]
    assert visitor.statuses()[-1] == 200, "the new version serves once it answers"
    assert "not rebuilt" in logs and "%s 18.0.1.0.0 -> 18.0.1.0.1" % ADDON in logs
    events = manager("ops.run.event", "search_read", [("run_id", "=", run["id"])], fields=["message"])
    assert any("e2e_admin" in e["message"] for e in events), "who approved is recorded"
    after = prod_env(server, project)
    assert after["image_digest"] == staging["image_digest"], "the exact image staging ran"
    assert after["url"] == before["url"] and after["previous_database_name"] == before["database_name"]
    assert after["container_id"] != before["container_id"] and after["container_ip"] != before["container_ip"], \
        "a new container at the other serving address of its network, behind the same URL"
    assert sql(after["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Added in 1.0.1'") == [(1,)]
    assert requests.get(after["url"] + "/web/login", timeout=30).status_code == 200
    backups = manager("ops.backup", "search_read", [("run_id", "=", run["id"])], fields=["kind", "state"])
    assert [(b["kind"], b["state"]) for b in backups] == [("pre_deploy", "done")], "a backup first"


def test_failed_deploy_rolls_back_and_ops_env_rollback(server, project, repo, ops_bin):
    manager = server.rpc("e2e_manager")
    git("checkout", "-q", "main", cwd=repo["work"])
    git("merge", "-q", "release/next", cwd=repo["work"])
    (repo["work"] / ADDON / "data" / "broken.xml").write_text("<odoo><record id='x' model='no.such.model'/></odoo>")
    commit(repo["work"], "18.0.1.0.2", ["data/partner.xml", "data/broken.xml"], "1.0.2: broken", "main")
    push(repo, "main")
    before = prod_env(server, project)
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "branch": "main"})
    server.rpc("e2e_admin")("ops.run", "approve_run", [queued["id"]])
    with Poller(before["url"]) as visitor:
        worker(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "failed" and "rolled back automatically" in run["error_message"], run["error_message"]
    assert visitor.failures(allowed=(200, 503)) == [], "the maintenance page, then the old version again"
    assert visitor.statuses()[-1] == 200
    after = prod_env(server, project)
    assert (after["database_name"], after["image_digest"]) == (before["database_name"], before["image_digest"])
    assert requests.get(after["url"] + "/web/login", timeout=30).status_code == 200, "production is back"
    assert sql(after["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Added in 1.0.1'") == [(1,)]

    # One command back to the previous image and the pre-deploy database:
    # an emergency, so it runs at once (no approval), and nobody notices the switch.
    rolled = ops(ops_bin, server, "e2e_admin", "env", "rollback", SLUG, "--json")
    assert rolled.returncode == 0, rolled.stderr
    run = json.loads(rolled.stdout)
    assert run["state"] == "queued", "a rollback does not wait for an approval"
    with Poller(before["url"]) as visitor:
        worker(server)
    done = manager("ops.run", "api_read", [run["id"]])
    assert done["state"] == "succeeded", done["error_message"]
    assert len(visitor.answers) > 10 and visitor.failures() == [], visitor.failures()[:3]
    back = prod_env(server, project)
    assert back["image_digest"] == before["previous_image_digest"]
    assert back["database_name"] == before["previous_database_name"]
    assert back["previous_image_digest"] == before["image_digest"], "the rollback can be undone"
    assert sql(back["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Added in 1.0.1'") == [(0,)]
    assert requests.get(back["url"] + "/web/login", timeout=30).status_code == 200


def test_a_staging_copy_killed_midway_is_retried_cleanly(server, project):
    """The worker dies while production is being copied: the reaper removes
    the half-made copy at once and requeues; the second attempt makes a
    whole one."""
    import os
    import signal

    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/next"})
    proc = subprocess.Popen(worker_cmd(server, "doomed-staging", [SLUG]), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while "Copying production" not in logs_of(manager, queued["id"]):
        assert time.monotonic() < deadline and proc.poll() is None, "the copy never started"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert leftovers(server, queued)["databases"], "the killed copy left its database"
    reap(server)
    assert manager("ops.run", "api_read", [queued["id"]])["state"] == "queued"
    assert leftovers(server, queued) == {"containers": [], "databases": [], "directories": []}
    worker(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert (run["state"], run["attempt"]) == ("succeeded", 2), (run["error_message"], logs_of(manager, run["id"]))
    env = manager("ops.environment", "read", [queued["environment_id"]], ["url", "database_name", "data_source"])[0]
    assert env["data_source"].startswith("Copy of production")
    made = "SELECT count(*) FROM res_partner WHERE name = 'Made in production'"
    assert sql(env["database_name"], made) == sql(prod_env(server, project)["database_name"], made) == [(1,)]
    assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200

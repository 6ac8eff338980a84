"""Development builds for real: git, Docker, PostgreSQL and Odoo, end to end.

A local git repository holds a small addon with one test. A project on it
gets a development build, executed by `odoo-bin ops-worker`; the test
checks the environment answers on HTTP, the addon is installed in its own
database, the test result is recorded; then destroys it and checks nothing
is left. A failing test turns the run red, and one project's database role
cannot open another database.
"""

import hashlib
import ipaddress
import os
import subprocess

import psycopg2
import pytest
import requests
from conftest import _odoo_cmd
from e2e import (
    ADDON,
    admin_conn,
    admin_sql,
    docker_ready,
    env_config,
    make_addon_repo,
    namespace,
    remove_leftovers,
    run_worker,
)


@pytest.fixture(scope="module")
def addon_repo(tmp_path_factory):
    """A bare repository with branch feature/ok (test passes) and feature/red (test fails)."""
    return make_addon_repo(tmp_path_factory.mktemp("git"))


@pytest.fixture(scope="module")
def project(server, addon_repo):
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers()
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {"name": "Runtime E2E", "slug": "rt-e2e", "repo_url": addon_repo,
                                                   "mem_limit_mb": 1024, "cpu_limit": 1.0})
    yield {"id": project_id, "slug": "rt-e2e", "repo_url": addon_repo}
    remove_leftovers()


def test_development_build_end_to_end(server, project):
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "build", "branch": "feature/ok"})
    run_worker(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    logs = manager("ops.run.log", "search_read", [("run_id", "=", queued["id"])], fields=["level", "message"])
    text = "\n".join(line["message"] for line in logs)
    assert run["state"] == "succeeded", (run["error_message"], text[-4000:])
    assert run["result"] in ("ok", "warning")
    assert len(run["commit_sha"]) == 40
    assert "0 failed, 0 error(s) of 1 tests" in text, "the test result is recorded in the run log"
    env = manager("ops.environment", "read", [queued["environment_id"]],
                  ["state", "url", "internal_url", "port", "database_name", "container_id", "image_digest",
                   "db_role", "container_ip", "network_name", "network_subnet"])[0]
    role = env["db_role"]
    assert role == "ops_%s_e%d" % (namespace(server), queued["environment_id"])
    assert env["database_name"].startswith("%s_%d_%d_rt_e2e_" % (namespace(server), queued["environment_id"],
                                                                 queued["id"]))
    # Its own name behind the platform's nginx (tests resolve *.e2e.test to 127.0.0.1).
    assert env["state"] == "running" and env["url"] == "http://feature-ok.rt-e2e.e2e.test:%s" % (
        server.proxy_listen.rpartition(":")[2]), env
    # On a network of its own, at an address of its subnet; nginx proxies there.
    assert env["network_name"] == "ops_%s_e%d_i" % (namespace(server), queued["environment_id"])
    assert ipaddress.ip_address(env["container_ip"]) in ipaddress.ip_network(env["network_subnet"])
    assert env["internal_url"] == "http://%s:8069" % env["container_ip"]
    login = requests.get(env["url"] + "/web/login", timeout=30)
    assert login.status_code == 200 and "/web/login" in login.url and 'name="login"' in login.text
    artifacts = {a["key"]: a for a in manager("ops.run.artifact", "search_read", [("run_id", "=", queued["id"])],
                                                 fields=["key", "location", "sha256", "size"])}
    assert sorted(artifacts) == ["image", "log"]
    assert artifacts["image"]["location"].startswith("ipai-ops/rt-e2e:")
    with open(artifacts["log"]["location"], "rb") as fh:
        content = fh.read()
    assert hashlib.sha256(content).hexdigest() == artifacts["log"]["sha256"]
    assert len(content) == artifacts["log"]["size"]
    assert b"0 failed, 0 error(s) of 1 tests" in content, "the full log is kept as a file"
    with admin_conn(env["database_name"]) as conn, conn.cursor() as cr:
        cr.execute("SELECT state FROM ir_module_module WHERE name = %s", [ADDON])
        assert cr.fetchone() == ("installed",)
        cr.execute("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert cr.fetchone() == (role,), "the build's database belongs to the environment's own role"
    conn.close()

    # A second build of the same commit starts from the cached template:
    # nothing to install, the new database is a template copy, the old one goes.
    again = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "build", "branch": "feature/ok"})
    run_worker(server)
    run2 = manager("ops.run", "api_read", [again["id"]])
    logs2 = "\n".join(line["message"] for line in manager(
        "ops.run.log", "search_read", [("run_id", "=", again["id"])], fields=["message"]))
    assert run2["state"] == "succeeded", (run2["error_message"], logs2[-3000:])
    assert "Template cache hit" in logs2 and "modules to update: none" in logs2, logs2[-3000:]
    assert "Installing" not in logs2
    env2 = manager("ops.environment", "read", [queued["environment_id"]],
                   ["state", "url", "container_ip", "database_name", "previous_image_digest", "image_digest"])[0]
    assert env2["database_name"] != env["database_name"] and env2["state"] == "running"
    assert env2["url"] == env["url"] and env2["container_ip"] != env["container_ip"], "a new container, the same URL"
    assert requests.get(env2["url"] + "/web/login", timeout=30).status_code == 200
    assert not admin_sql("SELECT 1 FROM pg_database WHERE datname = '%s'" % env["database_name"]), \
        "the previous build's database is dropped once the new one is healthy"
    with admin_conn(env2["database_name"]) as conn, conn.cursor() as cr:
        cr.execute("SELECT name FROM res_partner WHERE name = 'Built by ipai ops'")
        assert cr.fetchone(), "the template copy holds the installed addon's data"
    conn.close()
    env = dict(env, **env2)

    # Isolation: the environment's role opens its own database, not the
    # control plane's, not another project's.
    password = env_config(queued["environment_id"])["db_password"]
    own = psycopg2.connect(host=os.environ["OPS_DB_HOST"], port=os.environ["OPS_DB_PORT"], user=role,
                           password=password, dbname=env["database_name"])
    own.close()
    other_db = "x_rt_e2e_other_project"
    admin_sql("DROP DATABASE IF EXISTS %s" % other_db, "CREATE DATABASE %s" % other_db,
              "REVOKE CONNECT ON DATABASE %s FROM PUBLIC" % other_db)
    try:
        for dbname in (server.db, other_db):
            with pytest.raises(psycopg2.OperationalError, match="permission denied"):
                psycopg2.connect(host=os.environ["OPS_DB_HOST"], port=os.environ["OPS_DB_PORT"], user=role,
                                 password=password, dbname=dbname)
    finally:
        admin_sql("DROP DATABASE IF EXISTS %s" % other_db)

    # Destroy: no container, database or filestore is left.
    manager("ops.environment", "action_destroy", [queued["environment_id"]])
    run_worker(server)
    env_after = manager("ops.environment", "read", [queued["environment_id"]], ["state"])[0]
    assert env_after["state"] == "destroyed"
    import docker

    client = docker.from_env()
    left = client.containers.list(all=True, filters={"label": "ipai-ops.project=rt-e2e"})
    assert not left, [c.name for c in left]
    assert not admin_sql("SELECT datname FROM pg_database WHERE datname = '%s'" % env["database_name"])
    filestore = os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "data", "ipai_ops", "filestore", "rt-e2e",
                             "env-%d" % queued["environment_id"])
    assert os.path.isdir(os.path.dirname(filestore)) and not os.path.exists(filestore)


def test_failing_test_turns_the_run_red(server, project):
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "build", "branch": "feature/red"})
    run_worker(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert (run["state"], run["result"]) == ("failed", "failed"), run
    assert "1 failed" in (run["error_message"] or "")
    env = manager("ops.environment", "read", [queued["environment_id"]], ["last_result", "state"])[0]
    assert env["last_result"] == "failed"
    manager("ops.environment", "action_destroy", [queued["environment_id"]])
    run_worker(server)


def test_hostile_repository_and_unknown_commit_fail_cleanly(server, project):
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "build", "branch": "feature/ok",
                                              "commit_sha": "0123456789abcdef0123456789abcdef01234567"})
    run_worker(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "failed" and "0123456789ab" in run["error_message"], run
    import docker

    left = docker.from_env().containers.list(all=True, filters={"label": "ipai-ops.run=%d" % queued["id"]})
    assert not left

    # A repository that does not exist: a clear error, nothing made.
    manager("ops.project", "create", {"name": "Missing repo", "slug": "rt-e2e-missing",
                                      "repo_url": "file://%s/nonexistent/missing.git" % server.tmp_root})
    missing = manager("ops.run", "queue_run", {"project": "rt-e2e-missing", "kind": "build", "branch": "feature/x"})
    run_worker(server, projects="rt-e2e-missing")
    run = manager("ops.run", "api_read", [missing["id"]])
    assert run["state"] == "failed" and "does not exist or cannot be reached" in run["error_message"], run
    assert not admin_sql("SELECT 1 FROM pg_database WHERE datname LIKE '%rt\\_e2e\\_missing%'")



def test_garbage_collection(server, project):
    """The lifecycle cron: expired development environments get a destroy run;
    containers and databases this control plane made and no environment owns go."""
    import docker

    manager = server.rpc("e2e_manager")
    plane = namespace(server)
    # An orphan database of an environment that does not exist (with its
    # role), and one with our prefix that this control plane's roles do not own.
    role, orphan_db, alien_db = "ops_%s_e999999" % plane, "%s_999999_999999_rt_e2e_orphan" % plane, \
        "%s_999998_1_not_ours" % plane
    client = docker.from_env()
    orphan = client.containers.create("ipai-ops/odoo:18.0", ["--version"], name="ipai-ops-rt-e2e-orphan", labels={
        "ipai-ops.managed": "true", "ipai-ops.plane": plane, "ipai-ops.project": "rt-e2e",
        "ipai-ops.environment": "999999", "ipai-ops.run": "999999"})
    foreign = client.containers.create("ipai-ops/odoo:18.0", ["--version"], name="ipai-ops-rt-e2e-other-plane",
                                       labels={"ipai-ops.managed": "true", "ipai-ops.plane": "another-control-plane",
                                               "ipai-ops.project": "rt-e2e"})
    admin_sql("DROP DATABASE IF EXISTS %s" % orphan_db, "DROP DATABASE IF EXISTS %s" % alien_db,
              "DROP ROLE IF EXISTS %s" % role, "CREATE ROLE %s NOLOGIN" % role, "GRANT %s TO CURRENT_USER" % role,
              'CREATE DATABASE %s OWNER "%s"' % (orphan_db, role), "CREATE DATABASE %s" % alien_db)
    old = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "stop", "branch": "feature/old"})
    manager("ops.run", "cancel_run", [old["id"]])
    with admin_conn(server.db) as conn, conn.cursor() as cr:
        cr.execute("UPDATE ops_environment SET state = 'failed', write_date = now() - interval '30 days' "
                   "WHERE id = %s", [old["environment_id"]])
        cr.execute("UPDATE ops_run SET create_date = now() - interval '30 days' WHERE id = %s", [old["id"]])
    conn.close()

    def collect():
        proc = subprocess.run(_odoo_cmd(server.db, "shell") + ["--no-http", "--log-level=warn"], text=True,
                              input="print('GC', env['ops.environment']._cron_collect_garbage())\nenv.cr.commit()\n",
                              capture_output=True, timeout=300)
        assert "GC" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    try:
        collect()
        collect()  # a second pass queues nothing new
        names = [c.name for c in client.containers.list(all=True, filters={"label": "ipai-ops.project=rt-e2e"})]
        assert "ipai-ops-rt-e2e-orphan" not in names
        assert "ipai-ops-rt-e2e-other-plane" in names, "another control plane's containers are left alone"
        assert not admin_sql("SELECT 1 FROM pg_database WHERE datname = '%s'" % orphan_db)
        assert not admin_sql("SELECT 1 FROM pg_roles WHERE rolname = '%s'" % role), "the orphan's role goes too"
        assert admin_sql("SELECT 1 FROM pg_database WHERE datname = '%s'" % alien_db), \
            "a database our roles do not own is not ours to drop"
        destroys = manager("ops.run", "search_read", [("environment_id", "=", old["environment_id"]),
                                                       ("kind", "=", "destroy")], fields=["state", "idempotency_key"])
        assert len(destroys) == 1 and destroys[0]["idempotency_key"].startswith("gc-expire-"), destroys
        run_worker(server)
        assert manager("ops.environment", "read", [old["environment_id"]], ["state"])[0]["state"] == "destroyed"
    finally:
        for container in (orphan, foreign):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        admin_sql("DROP DATABASE IF EXISTS %s" % orphan_db, "DROP DATABASE IF EXISTS %s" % alien_db,
                  "DROP ROLE IF EXISTS %s" % role)

"""Development builds for real: git, Docker, PostgreSQL and Odoo, end to end.

A local git repository holds a small addon with one test. A project on it
gets a development build, executed by `odoo-bin ops-worker`; the test
checks the environment answers on HTTP, the addon is installed in its own
database, the test result is recorded; then destroys it and checks nothing
is left. A failing test turns the run red, and one project's database role
cannot open another database.
"""

import hashlib
import json
import os
import subprocess

import psycopg2
import pytest
import requests
from conftest import _odoo_cmd

ADDON = "ops_e2e_addon"
MANIFEST = """{"name": "E2E addon", "version": "18.0.1.0.0", "depends": ["base"], "license": "LGPL-3",
 "data": ["data/partner.xml"], "installable": True}
"""
PARTNER_XML = """<odoo><record id="partner_e2e" model="res.partner"><field name="name">Built by ipai ops</field>
</record></odoo>
"""
TEST_PY = """from odoo.tests import TransactionCase, tagged


@tagged("at_install", "-post_install")
class TestE2E(TransactionCase):
    def test_partner_loaded(self):
        partner = self.env.ref("ops_e2e_addon.partner_e2e")
        self.assertEqual(partner.name, "%s")
"""


def git(*args, cwd):
    subprocess.run(["git", "-c", "user.email=e2e@example.com", "-c", "user.name=e2e", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def addon_repo(tmp_path_factory):
    """A bare repository with branch feature/ok (test passes) and feature/red (test fails)."""
    root = tmp_path_factory.mktemp("git")
    work = root / "work"
    addon = work / ADDON
    (addon / "data").mkdir(parents=True)
    (addon / "tests").mkdir()
    (addon / "__init__.py").write_text("")
    (addon / "__manifest__.py").write_text(MANIFEST)
    (addon / "data" / "partner.xml").write_text(PARTNER_XML)
    (addon / "tests" / "__init__.py").write_text("from . import test_e2e\n")
    (addon / "tests" / "test_e2e.py").write_text(TEST_PY % "Built by ipai ops")
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "addon", cwd=work)
    git("branch", "feature/ok", cwd=work)
    # For a second project whose slug and branch made the same database name as
    # rt-e2e's feature/ok before names carried ids ("rt" + "e2e/feature/ok").
    git("branch", "e2e/feature/ok", cwd=work)
    git("checkout", "-q", "-b", "feature/red", cwd=work)
    (addon / "tests" / "test_e2e.py").write_text(TEST_PY % "Something else")
    git("commit", "-qam", "break the test", cwd=work)
    bare = root / "acme.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return "file://%s" % bare


def run_worker(server, projects="rt-e2e"):
    """One `odoo-bin ops-worker --once` pass over the queue (real worker command)."""
    cmd = _odoo_cmd(server.db)
    odoo_bin, rest = cmd[:2], cmd[2:]
    addons = rest[rest.index("--addons-path") + 1]
    proc = subprocess.run([*odoo_bin, "--addons-path=%s" % addons, "ops-worker", *rest, "--worker-id", "e2e-worker",
                           "--projects", projects, "--once", "--log-level=warn"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, "the worker met an error: " + output[-3000:]


def admin_sql(*statements):
    """Run statements outside of a transaction (CREATE / DROP DATABASE), as the admin."""
    conn = admin_conn("postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            for statement in statements:
                cr.execute(statement)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()


def admin_conn(dbname):
    return psycopg2.connect(host=os.environ["OPS_DB_HOST"], port=os.environ["OPS_DB_PORT"],
                            user=os.environ["OPS_DB_USER"], password=os.environ["OPS_DB_PASSWORD"], dbname=dbname)


def namespace(server):
    """The control plane's prefix on the shared servers (see services/naming.py)."""
    return "o" + hashlib.sha1(server.db.encode()).hexdigest()[:6]


def env_config(env_id):
    """The configuration file an environment's containers get (its credentials)."""
    import configparser

    parser = configparser.ConfigParser()
    path = os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "data", "ipai_ops", "secrets", "env-%d" % env_id,
                        "odoo.conf")
    assert parser.read(path), "no configuration file at %s" % path
    return dict(parser["options"])


def docker_ready():
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001
        return False


def remove_leftovers(slug="rt-e2e", extra_patterns=()):
    """What an interrupted earlier run of a test module may have left: the
    project's containers, its databases (their names carry its slug), and
    the build templates, verified copies and drill databases of this
    control plane (their names carry ids, which every fresh test database
    gives out again)."""
    import docker

    client = docker.from_env()
    for container in client.containers.list(all=True, filters={"label": "ipai-ops.project=%s" % slug}):
        container.remove(force=True)
    plane = "o" + hashlib.sha1(os.environ["OPS_E2E_DB"].encode()).hexdigest()[:6]
    patterns = ["%%\\_%s\\_%%" % slug.replace("-", "\\_"), *extra_patterns,
                *("%s\\_%s\\_%%" % (kind, plane) for kind in ("tpl", "vbk", "drill"))]
    names = admin_sql("SELECT datname FROM pg_database WHERE %s" % " OR ".join(
        "datname LIKE '%s'" % pattern for pattern in patterns))
    for (name,) in names:
        admin_sql('DROP DATABASE "%s" WITH (FORCE)' % name)


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
                  ["state", "url", "port", "database_name", "container_id", "image_digest", "db_role"])[0]
    role = env["db_role"]
    assert role == "ops_%s_e%d" % (namespace(server), queued["environment_id"])
    assert env["database_name"].startswith("%s_%d_%d_rt_e2e_" % (namespace(server), queued["environment_id"],
                                                                 queued["id"]))
    assert env["state"] == "running" and env["url"].startswith("http://127.0.0.1:")
    assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
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
                   ["state", "url", "database_name", "previous_image_digest", "image_digest"])[0]
    assert env2["database_name"] != env["database_name"] and env2["state"] == "running"
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


PROBE = r"""
import configparser, json, os, psycopg2
found = []
conf = configparser.ConfigParser()
conf.read("/etc/odoo/odoo.conf")
opts = dict(conf["options"]) if conf.has_section("options") else {}
if opts.get("db_user"):
    found.append((opts["db_user"], opts.get("db_password") or ""))
for key, value in os.environ.items():
    if "PASS" in key.upper() or "PGPASS" in key.upper():
        found.append((os.environ.get("PGUSER", "postgres"), value))
cmdline = open("/proc/1/cmdline", "rb").read().split(b"\0")
found += [(user, pw) for user in ("postgres", "ipai_ops") for _user, pw in found[:] + [("", "")]]
results = {"found": [u for u, _p in found], "own": None, "target": []}
host, port = opts.get("db_host", "127.0.0.1"), int(opts.get("db_port", 5432))
try:
    psycopg2.connect(host=host, port=port, user=opts["db_user"], password=opts["db_password"],
                     dbname=os.environ["OWN_DB"], connect_timeout=5).close()
    results["own"] = "ok"
except Exception as exc:
    results["own"] = str(exc)
for user, pw in found:
    try:
        psycopg2.connect(host=host, port=port, user=user, password=pw, dbname=os.environ["TARGET_DB"],
                         connect_timeout=5).close()
        results["target"].append([user, "CONNECTED"])
    except Exception as exc:
        results["target"].append([user, str(exc).strip().splitlines()[0]])
results["cmdline"] = b" ".join(cmdline).decode("utf-8", "replace")
print("PROBE " + json.dumps(results))
"""


def probe_from(container_id, own_db, target_db):
    """From inside a running environment container: every credential it can
    see, tried on its own database and on ``target_db``."""
    import json

    import docker

    container = docker.from_env().containers.get(container_id)
    code, out = container.exec_run(["python3", "-c", PROBE], environment={"OWN_DB": own_db, "TARGET_DB": target_db})
    line = [ln for ln in out.decode().splitlines() if ln.startswith("PROBE ")]
    assert code == 0 and line, out.decode()[-2000:]
    return json.loads(line[0][len("PROBE "):])


def env_secret(server, env_id, column):
    with admin_conn(server.db) as conn, conn.cursor() as cr:
        cr.execute("SELECT %s FROM ops_environment WHERE id = %%s" % column, [env_id])
        value = cr.fetchone()[0]
    conn.close()
    return value


def test_development_code_cannot_reach_production(server, project):
    """A production and a development build of one project: the development
    container, with every credential it can see, cannot open production's
    database; nobody logs in with admin/admin; no password is on a command
    line; a second project whose names used to collide leaves both alone."""
    import xmlrpc.client

    import docker

    manager = server.rpc("e2e_manager")
    # One after the other: two builds started together may pick the same port
    # (the faults issue reserves ports atomically and tests builds in parallel).
    prod_q = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "deploy", "branch": "main"})
    run_worker(server)
    dev_q = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "build", "branch": "feature/ok"})
    run_worker(server)
    for queued in (prod_q, dev_q):
        run = manager("ops.run", "api_read", [queued["id"]])
        assert run["state"] == "succeeded", run["error_message"]
    fields = ["url", "database_name", "db_role", "container_id", "stage"]
    prod = manager("ops.environment", "read", [prod_q["environment_id"]], fields)[0]
    dev = manager("ops.environment", "read", [dev_q["environment_id"]], fields)[0]
    assert (prod["stage"], dev["stage"]) == ("production", "development")
    assert prod["db_role"] != dev["db_role"], "one database role per environment"

    # From inside the development container: its own database opens, production's does not.
    probe = probe_from(dev["container_id"], dev["database_name"], prod["database_name"])
    assert probe["own"] == "ok", probe
    assert dev["db_role"] in probe["found"] and len(probe["target"]) >= 3, probe
    for user, outcome in probe["target"]:
        assert outcome != "CONNECTED", (user, probe)
        assert any(reason in outcome for reason in ("permission denied", "authentication failed",
                                                    "no password supplied")), (user, outcome)

    # No admin/admin (nor demo/demo); the platform's own password works.
    for env, logins in ((prod, [("admin", "admin")]), (dev, [("admin", "admin"), ("demo", "demo")])):
        common = xmlrpc.client.ServerProxy("%s/xmlrpc/2/common" % env["url"])
        for login, password in logins:
            assert common.authenticate(env["database_name"], login, password, {}) is False, (env["stage"], login)
        own = env_secret(server, prod_q["environment_id"] if env is prod else dev_q["environment_id"],
                         "admin_password")
        assert common.authenticate(env["database_name"], "admin", own, {}) == 2

    # Who may connect sets a password of their own: the developer on development, not on production.
    developer = server.rpc("e2e_dev")
    manager("ops.project", "write", [project["id"]], {"member_ids": [(0, 0, {"user_id": server.uids["e2e_dev"],
                                                                            "role": "developer"})]})
    developer("ops.environment", "set_admin_password", [dev_q["environment_id"]], "chosen-by-the-dev")
    dev_common = xmlrpc.client.ServerProxy("%s/xmlrpc/2/common" % dev["url"])
    assert dev_common.authenticate(dev["database_name"], "admin", "chosen-by-the-dev", {}) == 2
    with pytest.raises(xmlrpc.client.Fault, match="may not run 'connect' on production"):
        developer("ops.environment", "set_admin_password", [prod_q["environment_id"]], "chosen-by-the-dev")

    # No password on a command line, in `ps` or in `docker inspect`.
    secrets = [env_secret(server, env_id, "db_password") for env_id in (prod_q["environment_id"],
                                                                         dev_q["environment_id"])]
    assert all(secrets) and secrets[0] != secrets[1]
    processes = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
    assert "odoo" in processes
    client = docker.from_env()
    for container_id in (prod["container_id"], dev["container_id"]):
        attrs = client.containers.get(container_id).attrs
        shown = json.dumps([attrs["Config"].get("Cmd"), attrs["Config"].get("Env"), attrs["Args"]])
        assert "--db_password" not in shown
        for secret in secrets:
            assert secret not in shown
    for secret in secrets:
        assert secret not in processes, "a database password is visible in the process list"
    assert "--db_password" not in processes and "--smtp-password" not in processes, \
        "the control plane's own password, too, reaches Odoo through its environment"

    # A second project whose slug and branch gave rt-e2e's names before: its
    # build and destroy leave rt-e2e's databases alone.
    manager("ops.project", "create", {"name": "RT", "slug": "rt", "repo_url": project["repo_url"],
                                      "mem_limit_mb": 1024})
    try:
        other = manager("ops.run", "queue_run", {"project": "rt", "kind": "build", "branch": "e2e/feature/ok"})
        run_worker(server, projects="rt")
        assert manager("ops.run", "api_read", [other["id"]])["state"] == "succeeded"
        other_db = manager("ops.environment", "read", [other["environment_id"]], ["database_name"])[0]
        assert other_db["database_name"] not in (prod["database_name"], dev["database_name"])
        manager("ops.environment", "action_destroy", [other["environment_id"]])
        run_worker(server, projects="rt")
        for env in (prod, dev):
            assert admin_sql("SELECT 1 FROM pg_database WHERE datname = '%s'" % env["database_name"]), env
            assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
    finally:
        for container in docker.from_env().containers.list(all=True, filters={"label": "ipai-ops.project=rt"}):
            container.remove(force=True)
    for queued in (prod_q, dev_q):
        manager("ops.environment", "action_destroy", [queued["environment_id"]])
    run_worker(server)


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

"""Helpers of the out-of-process tests: the real servers seen from outside
(PostgreSQL as its admin, Docker, git, `odoo-bin` workers and shells), and
the small addon the build tests put in their repositories."""

import json
import os
import subprocess
import threading
import time

import psycopg2
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


def make_addon_repo(root, branches=("feature/ok",), red_branch="feature/red"):
    """A bare repository under ``root`` with the e2e addon on main, each of
    ``branches`` pointing at it and ``red_branch`` one commit further where
    its test fails. Returns its file:// URL."""
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
    for branch in branches:
        git("branch", branch, cwd=work)
    if red_branch:
        git("checkout", "-q", "-b", red_branch, cwd=work)
        (addon / "tests" / "test_e2e.py").write_text(TEST_PY % "Something else")
        git("commit", "-qam", "break the test", cwd=work)
    bare = root / "e2e.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return "file://%s" % bare


def odoo_command(server, name):
    """`odoo-bin NAME` of one of our addons on the test database (the
    addons path comes before the command, or Odoo does not know it)."""
    cmd = _odoo_cmd(server.db)
    odoo_bin, rest = cmd[:2], cmd[2:]
    addons = rest[rest.index("--addons-path") + 1]
    return [*odoo_bin, "--addons-path=%s" % addons, name, *rest]


def run_worker(server, projects="rt-e2e", host=None):
    """One `odoo-bin ops-worker --once` pass over the queue (real worker command), as a worker of ``host``."""
    proc = subprocess.run(odoo_command(server, "ops-worker") + ["--worker-id", "e2e-worker",
                                                                "--projects", projects, "--once", "--log-level=warn",
                                                                *(["--host", host] if host else [])],
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


def namespace(server=None):
    """The control plane's prefix on the shared servers (see services/naming.py): the test
    server's, or this stream's ($OPS_E2E_DB) without one."""
    from odoo.addons.ipai_ops_core.services import naming  # noqa: PLC0415 - Odoo's addons load with pytest-odoo

    return naming.namespace_for(server.db if server else os.environ["OPS_E2E_DB"])


def env_config(env_id, server=None):
    """The configuration file an environment's containers get (its credentials)."""
    import configparser

    parser = configparser.ConfigParser()
    plane = namespace(server)
    path = os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "data", "ipai_ops", "secrets", plane,
                        "env-%d" % env_id, "odoo.conf")
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
    gives out again). This control plane's only: the suite's other streams
    run at once on the same engine and server (scripts/test.sh)."""
    import docker

    client = docker.from_env()
    plane = namespace()
    ours = {"label": ["ipai-ops.project=%s" % slug, "ipai-ops.plane=%s" % plane]}
    for container in client.containers.list(all=True, filters=ours):
        container.remove(force=True)
    # Networks carry environment ids, which a fresh test database gives out again.
    for network in client.networks.list(filters=ours):
        network.remove()
    patterns = ["%s\\_%%\\_%s\\_%%" % (plane, slug.replace("-", "\\_")), *extra_patterns,
                *("%s\\_%s\\_%%" % (kind, plane) for kind in ("tpl", "vbk", "drill"))]
    names = admin_sql("SELECT datname FROM pg_database WHERE %s" % " OR ".join(
        "datname LIKE '%s'" % pattern for pattern in patterns))
    from odoo.addons.ipai_ops_core.services import postgres  # noqa: PLC0415 - Odoo's addons load with pytest-odoo

    admin = {"host": os.environ["OPS_DB_HOST"], "port": int(os.environ["OPS_DB_PORT"]),
             "user": os.environ["OPS_DB_USER"], "password": os.environ["OPS_DB_PASSWORD"]}
    for (name,) in names:
        # the platform's drop: it waits out an autovacuum worker (a superuser process FORCE may not end)
        postgres.drop_database(admin, name)


def shell(server, code):
    """Run Python in `odoo-bin shell` on the test database; returns stdout."""
    proc = subprocess.run(_odoo_cmd(server.db, "shell") + ["--no-http", "--log-level=warn"], input=code,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def ops(ops_bin, server, login, *args):
    env = dict(os.environ, OPS_URL=server.url, OPS_DB=server.db, OPS_LOGIN=login, OPS_API_KEY=server.keys[login])
    return subprocess.run([ops_bin, *args], capture_output=True, text=True, env=env, timeout=600, check=False)


def sql(dbname, query, args=None):
    conn = admin_conn(dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute(query, args)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()


def worker_cmd(server, worker_id, projects, *extra):
    cmd = _odoo_cmd(server.db)
    addons = cmd[cmd.index("--addons-path") + 1]
    return [*cmd[:2], "--addons-path=%s" % addons, "ops-worker", *cmd[2:], "--worker-id", worker_id, "--projects",
            ",".join(projects), "--once", "--log-level=warn", *extra]


def logs_of(manager, run_id):
    return "\n".join(line["message"] for line in manager("ops.run.log", "search_read", [("run_id", "=", run_id)],
                                                         fields=["message"]))


def leftovers(server, run):
    """What exists of a run on the real servers: containers, databases, directories."""
    import docker

    containers = [c.name for c in docker.from_env().containers.list(
        all=True, filters={"label": ["ipai-ops.plane=%s" % namespace(server), "ipai-ops.run=%d" % run["id"]]})]
    prefix = "%s_%d_%d_" % (namespace(server), run["environment_id"], run["id"])
    databases = [name for (name,) in admin_sql("SELECT datname FROM pg_database WHERE starts_with(datname, '%s')"
                                               % prefix)]
    work = os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "data", "ipai_ops", "work", namespace(server))
    directories = [name for name in (os.listdir(work) if os.path.isdir(work) else [])
                   if name == "run-%d" % run["id"] or name.startswith("run-%d-" % run["id"])]
    return {"containers": containers, "databases": databases, "directories": directories}


def serves(url, database):
    """Whether the Odoo at ``url`` opens ``database`` (a login nobody has is
    refused there; another environment's server cannot open it at all)."""
    answer = requests.post(url + "/jsonrpc", json={"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
        "service": "common", "method": "authenticate", "args": [database, "nobody-here", "-", {}]}},
        timeout=30).json()
    return "error" not in answer and answer["result"] is False


def reap(server):
    """The reaper's cron, with a 10 s heartbeat timeout, once the last heartbeat is older."""
    shell(server, 'env["ir.config_parameter"].set_param("ipai_ops.heartbeat_timeout_seconds", "10")\n'
                  'env.cr.commit()\nimport time; time.sleep(11)\n'
                  'print("REAPED", env["ops.run"]._cron_reap_stale_runs())\n'
                  'env["ir.config_parameter"].set_param("ipai_ops.heartbeat_timeout_seconds", "300")\n'
                  'env.cr.commit()\n')


def _options():
    """The [options] of $OPS_CONF, and how a path there reads (variables expanded)."""
    import configparser

    parser = configparser.RawConfigParser()
    assert parser.read(os.environ["OPS_CONF"]), "no configuration at %s" % os.environ["OPS_CONF"]

    def path(value):
        return os.path.realpath(os.path.expanduser(os.path.expandvars(value.strip())))

    return parser["options"], path


def key_file():
    """The control plane's encryption key file, where its Odoo finds it
    ($OPS_CONF: option ipai_ops_key_file, or <data_dir>/ipai_ops_keys/secrets.key)."""
    from odoo.addons.ipai_ops_core.services import secret_box

    options, path = _options()
    if options.get("ipai_ops_key_file"):
        return path(options["ipai_ops_key_file"])
    return secret_box.default_key_file(path(options["data_dir"]))


def filestore_root():
    """Where the test server keeps the environments' data directories (<data_dir>/ipai_ops/filestore: the suite
    sets no ipai_ops.data_root)."""
    options, path = _options()
    return os.path.join(path(options["data_dir"]), "ipai_ops", "filestore")


def env_secret(server, env_id, column):
    """An environment's secret (db_password, admin_password) in clear: the
    column holds it encrypted; decrypted with the key file, as the platform does."""
    from odoo.addons.ipai_ops_core.services import secret_box

    with admin_conn(server.db) as conn, conn.cursor() as cr:
        cr.execute("SELECT %s FROM ops_environment WHERE id = %%s" % column, [env_id])
        value = cr.fetchone()[0]
    conn.close()
    if secret_box.is_sealed(value):
        return secret_box.unseal(key_file(), value, "ops.environment.%s of environment %d" % (column, env_id))
    return value


class Poller:
    """A visitor: GET ``url`` + ``path`` every ``interval`` seconds (one
    request at a time, from a thread) while the block runs; ``answers``
    keeps each status (or the error) with the Retry-After header and the
    start of the body."""

    def __init__(self, url, path="/web/login", interval=0.05, timeout=15):
        self.url, self.path, self.interval, self.timeout = url, path, interval, timeout
        self.answers = []
        self.durations = []  # seconds each answer took
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                answer = requests.get(self.url + self.path, timeout=self.timeout, allow_redirects=False)
                self.answers.append((answer.status_code, answer.headers.get("Retry-After"), answer.text[:2000]))
            except requests.RequestException as exc:
                self.answers.append((repr(exc), None, ""))
            self.durations.append(time.monotonic() - started)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def statuses(self):
        return [status for status, _retry, _text in self.answers]

    def failures(self, allowed=(200,)):
        return [answer for answer in self.answers if answer[0] not in allowed]


def run_monitor(server, host="local"):
    """One pass of `odoo-bin ops-monitor --once` (collect every running
    environment of ``host``, evaluate the alert rules, send the webhooks that
    are due); its result, none failed."""
    proc = subprocess.run(odoo_command(server, "ops-monitor") + ["--host", host, "--once", "--log-level=warn"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["failed"], result
    return result


def production_container(server, prod):
    """Production's container now (tests switch it)."""
    import docker

    current = server.rpc("e2e_manager")("ops.environment", "read", [prod["id"]], ["container_id"])[0]
    return docker.from_env().containers.get(current["container_id"])


def answers_within(url, seconds):
    """Seconds until ``url`` answers /web/login with 200 (AssertionError past ``seconds``)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if requests.get(url + "/web/login", timeout=5).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError("%s did not answer within %ds" % (url, seconds))

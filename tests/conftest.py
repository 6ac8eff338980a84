"""Out-of-process tests: a real Odoo server on 127.0.0.1, spoken to over
XML-RPC and through the `ops` CLI, on its own database copy ($OPS_E2E_DB,
made by scripts/test.sh)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
# The swarm host's production, shared by the test_swarm_serving*.py files; the production of
# test_pitr_e2e.py, on its own cluster.
pytest_plugins = ["swarm_prod", "pitr_prod"]
REQUIRED_ENV = ("ODOO_SRC", "OPS_CONF", "OPS_E2E_DB", "OPS_DB_HOST", "OPS_DB_PORT", "OPS_DB_USER",
                "OPS_DB_PASSWORD")
# The environments' hostnames in the tests: <branch>.<project>.e2e.test,
# answered by the platform's nginx on PROXY_LISTEN.
BASE_DOMAIN = "e2e.test"
# The project of the shared production (fixture ``prod``).
PROD_SLUG = "srv-e2e"
PROD_FIELDS = ["url", "database_name", "container_id", "gevent_port", "effective_runtime", "port", "hostname",
               "project_id"]

# Users, roles and API keys, made inside the real database with odoo-bin shell.
SETUP_SCRIPT = r'''
import json
from odoo import Command
users = {}
def user(login, groups):
    u = env["res.users"].search([("login", "=", login)])
    if not u:
        u = env["res.users"].create({"name": login, "login": login, "password": login,
                                     "groups_id": [Command.set([env.ref(g).id for g in groups])]})
    return u
# Local repositories the tests use: under /srv/git and pytest's own temporary directory.
env.ref("ipai_ops_core.ops_host_local").repo_roots = "/srv/git\n" + REPO_ROOT
# The front door of this test run: its own nginx, its own port, its own names.
params = env["ir.config_parameter"].sudo()
params.set_param("ipai_ops.proxy_root", PROXY_ROOT)
params.set_param("ipai_ops.proxy_listen", PROXY_LISTEN)
params.set_param("ipai_ops.proxy_listen_tls", PROXY_LISTEN_TLS)
params.set_param("ipai_ops.base_domain", BASE_DOMAIN)
# ... and its own egress proxy (development and staging's allow-listed hosts).
params.set_param("ipai_ops.egress_root", EGRESS_ROOT)
params.set_param("ipai_ops.egress_proxy_port", EGRESS_PORT)
env["ops.environment"].search([])._compute_hostname()
base = "base.group_user"
for login in ("e2e_owner", "e2e_admin", "e2e_tester", "e2e_dev", "e2e_viewer", "e2e_outsider"):
    users[login] = user(login, [base, "ipai_ops_core.group_ops_user"])
users["e2e_worker"] = user("e2e_worker", [base, "ipai_ops_core.group_ops_worker"])
users["e2e_manager"] = user("e2e_manager", [base, "ipai_ops_core.group_ops_manager"])
project = env["ops.project"].search([("slug", "=", "e2e-shop")])
if not project:
    project = env["ops.project"].with_user(users["e2e_manager"]).create({
        "name": "E2E Shop", "slug": "e2e-shop", "repo_url": "/srv/git/e2e-shop.git",
        "member_ids": [Command.create({"user_id": users[l].id, "role": r}) for l, r in (
            ("e2e_owner", "owner"), ("e2e_admin", "admin"), ("e2e_tester", "tester"),
            ("e2e_dev", "developer"), ("e2e_viewer", "viewer"))],
    })
    for branch in ("main", "release/1.0", "feature/base"):
        env["ops.environment"].sudo().create({"project_id": project.id, "branch": branch})
keys = {}
for login, u in users.items():
    keys[login] = env["res.users.apikeys"].with_user(u).sudo()._generate(None, "e2e", None)
envs = {e.branch: e.id for e in project.environment_ids}
env.cr.commit()
print("E2E-SETUP " + json.dumps({"keys": keys, "uids": {l: u.id for l, u in users.items()},
                                 "project_id": project.id, "envs": envs}))
'''


def _free_port():
    """A port for a listener the suite starts (nginx, Odoo, a relay), outside the ephemeral range."""
    from odoo.addons.ipai_ops_core.services import ports
    return ports.free_port()


def _odoo_cmd(db, *command):
    env = os.environ
    return [
        sys.executable, os.path.join(env["ODOO_SRC"], "odoo-bin"), *command, "-c", env["OPS_CONF"],
        "--addons-path", "%s/addons,%s/addons" % (env["ODOO_SRC"], REPO),
        "--db_host", env["OPS_DB_HOST"], "--db_port", env["OPS_DB_PORT"],
        "--db_user", env["OPS_DB_USER"],
        "-d", db, "--db-filter", "^%s$" % db,
    ]


class Server:
    def __init__(self, url, db, setup, tmp_root=None, proxy_root=None, proxy_listen=None, proxy_listen_tls=None,
                 egress_port=None):
        self.url, self.db, self.tmp_root, self.egress_port = url, db, tmp_root, egress_port
        self.proxy_root, self.proxy_listen, self.proxy_listen_tls = proxy_root, proxy_listen, proxy_listen_tls
        # Where the tests reach the front door: the loopback, whatever it listens on.
        self.proxy_addr = "127.0.0.1:%s" % proxy_listen.rpartition(":")[2] if proxy_listen else None
        self.keys, self.uids = setup["keys"], setup["uids"]
        self.project_id, self.envs = setup["project_id"], setup["envs"]

    def rpc(self, login):
        return RpcUser(self, login)


class RpcUser:
    """execute_kw as one user, authenticated with their API key."""

    def __init__(self, server, login):
        self.server, self.login = server, login
        self.uid, self.key = server.uids[login], server.keys[login]
        self.proxy = xmlrpc.client.ServerProxy("%s/xmlrpc/2/object" % server.url, allow_none=True)

    def __call__(self, model, method, *args, **kwargs):
        return self.proxy.execute_kw(self.server.db, self.uid, self.key, model, method, list(args), kwargs)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        pytest.skip("out-of-process tests need the environment of `make test` (missing %s)" % ", ".join(missing))
    db = os.environ["OPS_E2E_DB"]
    # nginx's workers run as an unprivileged user: the prefix must be
    # traversable (pytest's own temporary directories are not).
    proxy_base = tempfile.mkdtemp(prefix="ipai-ops-e2e-proxy-")
    os.chmod(proxy_base, 0o755)
    # On every address, as in production: an environment reaches its own public
    # name through it (the tests themselves talk to 127.0.0.1 only).
    proxy_root, proxy_listen = os.path.join(proxy_base, "proxy"), "0.0.0.0:%d" % _free_port()
    proxy_listen_tls = "127.0.0.1:%d" % _free_port()
    egress_root, egress_port = os.path.join(proxy_base, "egress"), _free_port()
    script = SETUP_SCRIPT.replace("EGRESS_ROOT", repr(egress_root)).replace(
        "EGRESS_PORT", repr(str(egress_port))).replace("REPO_ROOT", repr(str(tmp_path_factory.getbasetemp()))).replace(
        "PROXY_ROOT", repr(proxy_root)).replace("PROXY_LISTEN_TLS", repr(proxy_listen_tls)).replace(
        "PROXY_LISTEN", repr(proxy_listen)).replace("BASE_DOMAIN", repr(BASE_DOMAIN))
    setup = subprocess.run(_odoo_cmd(db, "shell") + ["--no-http", "--log-level=warn"], input=script,
                           capture_output=True, text=True, timeout=300, check=False)
    line = [ln for ln in setup.stdout.splitlines() if ln.startswith("E2E-SETUP ")]
    assert line, "odoo-bin shell setup failed:\n%s\n%s" % (setup.stdout[-3000:], setup.stderr[-3000:])
    data = json.loads(line[-1][len("E2E-SETUP "):])

    port = _free_port()
    log_path = tmp_path_factory.mktemp("odoo") / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            _odoo_cmd(db) + ["--http-interface", "127.0.0.1", "--http-port", str(port), "--gevent-port",
                             str(_free_port()), "--workers", "0", "--max-cron-threads", "0",
                             "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    url = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError("Odoo server exited:\n" + log_path.read_text()[-5000:])
            try:
                if requests.get(url + "/web/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # refused while it starts, or slow on its first request
                pass
            if time.monotonic() > deadline:
                raise AssertionError("Odoo server did not answer /web/health in 120s")
            time.sleep(0.5)
        yield Server(url, db, data, tmp_root=str(tmp_path_factory.getbasetemp()), proxy_root=proxy_root,
                     proxy_listen=proxy_listen, proxy_listen_tls=proxy_listen_tls, egress_port=egress_port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        # The platform started its nginx with the first switch, and its egress
        # proxy with the first development network; they go with the run.
        if os.path.exists(os.path.join(proxy_root, "nginx.pid")):
            subprocess.run(["nginx", "-p", proxy_root, "-c", "nginx.conf", "-s", "quit"], check=False,
                           capture_output=True)
        if os.path.exists(os.path.join(egress_root, "run", "squid.pid")):
            subprocess.run(["squid", "-f", os.path.join(egress_root, "squid.conf"), "-k", "shutdown"], check=False,
                           capture_output=True)
        shutil.rmtree(proxy_base, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _resolve_test_hostnames():
    """curl's --resolve for this process: every name under .test (the
    environments' <name>.e2e.test, custom domains such as shop.srv-e2e.test;
    a top-level domain reserved for tests, RFC 2606) is 127.0.0.1: the
    platform's nginx answers it by its Host header. No other name changes
    and no traffic leaves the machine."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.rstrip(".").endswith(".test"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    yield
    socket.getaddrinfo = real


@pytest.fixture(scope="session")
def prod(server, tmp_path_factory):
    """A production of project srv-e2e (one addon), deployed with a short
    real-time limit (5 s); shared by the serving and front door tests."""
    from e2e import docker_ready, env_secret, make_addon_repo, remove_leftovers, run_worker

    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(PROD_SLUG)
    repo = make_addon_repo(tmp_path_factory.mktemp("srvgit"), branches=(), red_branch=None)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {"name": "Serving E2E", "slug": PROD_SLUG, "repo_url": repo,
                                                   "mem_limit_mb": 1024, "cpu_limit": 1.0})
    env_id = manager("ops.environment", "create", {"project_id": project_id, "branch": "main", "limit_time_real": 5})
    queued = manager("ops.run", "queue_run", {"project": PROD_SLUG, "kind": "deploy", "environment_id": env_id})
    run_worker(server, projects=PROD_SLUG)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "succeeded", run["error_message"]
    env = manager("ops.environment", "read", [env_id], PROD_FIELDS)[0]
    env["id"], env["password"] = env_id, env_secret(server, env_id, "admin_password")
    yield env
    remove_leftovers(PROD_SLUG)


@pytest.fixture(scope="session")
def catcher(server):
    """The mail catcher (odoo-bin ops-mailcatcher) on a free port, on every
    address: development and staging networks reach it at their gateway."""
    from e2e import shell

    cmd = _odoo_cmd(server.db)
    addons = cmd[cmd.index("--addons-path") + 1]
    for _attempt in range(3):
        port = _free_port()
        # Odoo finds an addon's command when --addons-path comes before it.
        proc = subprocess.Popen([*cmd[:2], "--addons-path=%s" % addons, "ops-mailcatcher", *cmd[2:], "--port",
                                 str(port), "--log-level=warn"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        said = proc.stdout.readline()
        if "listening on 0.0.0.0:%d" % port in said:
            break
        try:  # all it said, to name the cause
            said += proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            said += proc.communicate()[0]
        if "Address already in use" not in said:  # (a free port taken meanwhile: another one)
            pytest.fail("The mail catcher did not start: %s" % said[-3000:])
    else:
        pytest.fail("The mail catcher found no free port: %s" % said[-3000:])
    shell(server, 'env["ir.config_parameter"].set_param("ipai_ops.mail_catcher_port", "%d")\nenv.cr.commit()\n'
          % port)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def refresh_prod(server, prod):
    """After a test switched production's container (a deploy): the shared
    ``prod`` dict says what runs now, for the tests that follow."""
    prod.update(server.rpc("e2e_manager")("ops.environment", "read", [prod["id"]], PROD_FIELDS)[0])


@pytest.fixture(scope="module")
def prod_members(server, prod):
    """e2e_admin, e2e_tester and e2e_dev as admin, tester and developer of prod's project."""
    manager = server.rpc("e2e_manager")
    ids = [manager("ops.project.member", "create", {"project_id": prod["project_id"][0],
                                                    "user_id": server.uids[login], "role": role})
           for login, role in (("e2e_admin", "admin"), ("e2e_tester", "tester"), ("e2e_dev", "developer"))]
    yield
    manager("ops.project.member", "unlink", ids)


@pytest.fixture(scope="session")
def ops_bin():
    path = Path(sys.executable).parent / "ops"
    if not path.exists():
        pytest.skip("the `ops` console script is installed by scripts/setup.sh (pip install -e)")
    return str(path)


@pytest.fixture(name="swarm_lab", scope="session")
def swarm_lab_fixture():
    """A swarm of two Docker engines of their own, each in a network
    namespace (tests/swarm_lab.py, scripts/swarm-lab.sh), for the session;
    the services' swarm tests use it. Never the machine's own engine."""
    import swarm_lab  # noqa: PLC0415 - only the swarm tests need it

    lab = swarm_lab.up()
    yield lab
    swarm_lab.down()


# Where the suite's time goes, per file (setup, calls and teardown summed; a module's fixtures count
# in the file that first asked for them): the budget is 45 minutes for the whole `make test`.
_FILE_SECONDS = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _FILE_SECONDS:
        return
    total = sum(_FILE_SECONDS.values())
    terminalreporter.write_sep("=", "time per test file (%.0f s in all)" % total)
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1])[:20]:
        terminalreporter.write_line("%7.1f s %5.1f %%  %s" % (seconds, 100 * seconds / total, path))

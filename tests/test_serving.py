"""How production runs: Odoo's prefork server with HTTP workers, a cron
worker and a gevent port, behind proxy_mode, with the limits of its runtime
settings; it comes back by itself when its container dies."""

import os
import time
import xmlrpc.client

import docker
import pytest
import requests
from e2e import admin_conn, docker_ready, env_secret, make_addon_repo, remove_leftovers, run_worker

SLUG = "srv-e2e"


def worker(server):
    run_worker(server, projects=SLUG)


@pytest.fixture(scope="module")
def prod(server, tmp_path_factory):
    """A production deployed with a short real-time limit (5 s)."""
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    repo = make_addon_repo(tmp_path_factory.mktemp("srvgit"), branches=(), red_branch=None)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {"name": "Serving E2E", "slug": SLUG, "repo_url": repo,
                                                   "mem_limit_mb": 1024, "cpu_limit": 1.0})
    env_id = manager("ops.environment", "create", {"project_id": project_id, "branch": "main", "limit_time_real": 5})
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "environment_id": env_id})
    worker(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "succeeded", run["error_message"]
    env = manager("ops.environment", "read", [env_id], ["url", "database_name", "container_id", "gevent_port",
                                                        "effective_runtime", "port"])[0]
    env["id"], env["password"] = env_id, env_secret(server, env_id, "admin_password")
    yield env
    remove_leftovers(SLUG)


def call(env, model, method, *args):
    proxy = xmlrpc.client.ServerProxy("%s/xmlrpc/2/object" % env["url"], allow_none=True)
    return proxy.execute_kw(env["database_name"], 2, env["password"], model, method, list(args))


def processes(container_id):
    """The process titles in the container (Odoo names its workers)."""
    code, out = docker.from_env().containers.get(container_id).exec_run(
        ["python3", "-c", "import os\nfor p in os.listdir('/proc'):\n    if p.isdigit():\n        try:\n"
         "            print(open('/proc/%s/cmdline' % p, 'rb').read().replace(b'\\0', b' ').decode())\n"
         "        except OSError:\n            pass\n"])
    assert code == 0, out
    return out.decode()


def test_production_runs_prefork_with_workers_and_crons(prod):
    assert prod["gevent_port"] and prod["gevent_port"] != prod["port"]
    assert "prefork, 2 HTTP workers, 1 cron workers" in prod["effective_runtime"], prod["effective_runtime"]
    titles = processes(prod["container_id"])
    assert titles.count("odoo: WorkerHTTP") >= 1 or "--workers 2" in titles, titles
    assert "--gevent-port %d" % prod["gevent_port"] in titles and "--proxy-mode" in titles, titles
    logs = docker.from_env().containers.get(prod["container_id"]).logs(tail=60).decode()
    try:
        answer = requests.get("http://127.0.0.1:%d/web/health" % prod["gevent_port"], timeout=10).status_code
    except requests.ConnectionError as exc:
        answer = exc
    assert answer == 200, "the gevent process (websockets) answers on its own port: %s\n%s" % (answer, logs)


def test_a_scheduled_action_runs_by_itself(prod):
    """An ir.cron made in production fires within its interval: nobody runs it."""
    call(prod, "ir.cron", "create", {
        "name": "e2e: cron fires", "model_id": call(prod, "ir.model", "search", [("model", "=", "res.partner")])[0],
        "state": "code", "code": "env['ir.config_parameter'].sudo().set_param('e2e.cron_fired', 'yes')",
        "interval_number": 1, "interval_type": "minutes", "nextcall": "2020-01-01 00:00:00"})
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        with admin_conn(prod["database_name"]) as conn, conn.cursor() as cr:
            cr.execute("SELECT value FROM ir_config_parameter WHERE key = 'e2e.cron_fired'")
            fired = cr.fetchone()
        conn.close()
        if fired:
            break
        time.sleep(3)
    logs = docker.from_env().containers.get(prod["container_id"]).logs(tail=80).decode()
    assert fired == ("yes",), "the cron worker never ran the scheduled action:\n" + logs


def test_a_request_over_the_real_time_limit_is_killed_and_production_stays_up(prod):
    action = call(prod, "ir.actions.server", "create", {
        "name": "e2e: too long", "model_id": call(prod, "ir.model", "search", [("model", "=", "res.partner")])[0],
        "state": "code", "code": "env.cr.execute('SELECT pg_sleep(30)')"})
    started = time.monotonic()
    with pytest.raises((xmlrpc.client.ProtocolError, xmlrpc.client.Fault, ConnectionError, OSError)):
        call(prod, "ir.actions.server", "run", [action])
    killed_after = time.monotonic() - started
    assert killed_after < 25, "killed after %.1fs, the limit is 5s" % killed_after
    for _ in range(3):
        assert requests.get(prod["url"] + "/web/login", timeout=30).status_code == 200


def test_production_comes_back_by_itself(prod):
    """Its container dies (the daemon's restart policy brings it back)."""
    container = docker.from_env().containers.get(prod["container_id"])
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    os.kill(container.attrs["State"]["Pid"], 9)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(prod["url"] + "/web/login", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(1)
    assert requests.get(prod["url"] + "/web/login", timeout=30).status_code == 200

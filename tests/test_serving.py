"""How production runs: Odoo's prefork server with HTTP workers, a cron
worker and a gevent port, behind the platform's nginx on its own hostname
(proxy_mode), with the limits of its runtime settings; it comes back by
itself when its container dies; a redeploy switches without a failed
request; a stopped environment shows a page saying so."""

import json
import os
import subprocess
import time
import xmlrpc.client
from urllib.parse import urlparse

import docker
import pytest
import requests
import websocket
from e2e import (
    Poller,
    admin_conn,
    answers_within,
    logs_of,
    ops,
    run_worker,
    shell,
)

SLUG = "srv-e2e"


def worker(server):
    run_worker(server, projects=SLUG)


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
    assert (prod["port"], prod["gevent_port"]) == (8069, 8072), "its own network namespace: Odoo's own ports"
    assert "prefork, 2 HTTP workers, 1 cron workers" in prod["effective_runtime"], prod["effective_runtime"]
    titles = processes(prod["container_id"])
    assert titles.count("odoo: WorkerHTTP") >= 1 or "--workers 2" in titles, titles
    assert "--gevent-port %d" % prod["gevent_port"] in titles and "--proxy-mode" in titles, titles
    logs = docker.from_env().containers.get(prod["container_id"]).logs(tail=60).decode()
    # Asked from inside (the tests talk to the loopback only; the container's port is on its network).
    code, out = docker.from_env().containers.get(prod["container_id"]).exec_run(
        ["python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:%d/web/health', "
                          "timeout=10).status)" % prod["gevent_port"]])
    answer = out.decode().strip() if code == 0 else out.decode()[-500:]
    assert answer == "200", "the gevent process (websockets) answers on its own port: %s\n%s" % (answer, logs)


def test_a_scheduled_action_runs_by_itself(prod):
    """An ir.cron made in production fires within its interval: nobody runs it."""
    call(prod, "ir.cron", "create", {
        "name": "e2e: cron fires", "model_id": call(prod, "ir.model", "search", [("model", "=", "res.partner")])[0],
        "state": "code", "code": "env['ir.config_parameter'].sudo().set_param('e2e.cron_fired', 'yes')",
        "interval_number": 1, "interval_type": "minutes", "nextcall": "2020-01-01 00:00:00"})
    # what Odoo's ir.cron._notifydb does when a job is due: wake the cron workers (else they look again
    # within their minute); the job itself is theirs to find and run
    with admin_conn("postgres") as conn, conn.cursor() as cr:
        cr.execute("SELECT pg_notify('cron_trigger', %s)", [prod["database_name"]])
    conn.close()
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


def test_production_comes_back_by_itself(server, prod):
    """Its container dies (the daemon's restart policy brings it back)."""
    container = docker.from_env().containers.get(current(server, prod)["container_id"])
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    os.kill(container.attrs["State"]["Pid"], 9)
    answers_within(prod["url"], 90)


def reconcile(server):
    out = shell(server, "print('RECONCILED', env.ref('ipai_ops_core.cron_reconcile').ir_actions_server_id.run())\n"
                        "env.cr.commit()\n")
    assert "RECONCILED" in out, out
    return out


def chatter(server, env_id, text):
    return [m["body"] for m in server.rpc("e2e_manager")("mail.message", "search_read", [
        ("model", "=", "ops.environment"), ("res_id", "=", env_id), ("body", "ilike", text)], ["body"])]


@pytest.mark.alone  # every container of the engine stops with it: run when no other stream uses it
def test_production_survives_a_restart_of_the_docker_daemon(server, prod):
    """What a reboot does: every container stops with the daemon. Production
    answers again within 60 s of the daemon's start without anyone acting,
    and the reconciliation finds nothing to correct."""
    before = current(server, prod)
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "docker.sh")
    subprocess.run([script, "restart"], check=True, timeout=240)
    answers_within(prod["url"], 60)
    reconcile(server)
    after = current(server, prod)
    assert after["state"] == "running" and after["container_id"] == before["container_id"], after
    assert not chatter(server, prod["id"], "Reconciliation"), "nothing was wrong"


def test_the_reconciliation_starts_a_production_container_left_stopped(server, prod):
    """Stopped outside the platform (the restart policy leaves it so): the
    record said Running; the cron starts it and says so in the chatter."""
    container = docker.from_env().containers.get(current(server, prod)["container_id"])
    container.stop(timeout=20)
    assert requests.get(prod["url"] + "/web/login", timeout=30).status_code != 200
    reconcile(server)
    answers_within(prod["url"], 90)
    assert current(server, prod)["state"] == "running"
    found = chatter(server, prod["id"], "Reconciliation")
    assert len(found) == 1 and "started it again" in found[0], found


def current(server, prod):
    return server.rpc("e2e_manager")("ops.environment", "read", [prod["id"]], [
        "url", "port", "gevent_port", "container_id", "container_ip", "database_name", "image_digest", "state",
        "maintenance"])[0]


def test_its_hostname_is_served_by_the_proxy_and_unknown_names_are_not(server, prod, ops_bin):
    assert prod["hostname"] == "main.%s.e2e.test" % SLUG
    assert prod["url"] == "http://%s:%s" % (prod["hostname"], server.proxy_listen.rpartition(":")[2])
    listed = ops(ops_bin, server, "e2e_manager", "env", "list", SLUG)
    assert listed.returncode == 0 and prod["url"] in listed.stdout and "production" in listed.stdout, listed
    login = requests.get(prod["url"] + "/web/login", timeout=30)
    assert login.status_code == 200 and 'name="login"' in login.text
    # Odoo sees the name the visitor asked for (proxy_mode and X-Forwarded-*): its redirects stay on it.
    home = requests.get(prod["url"] + "/odoo", timeout=30, allow_redirects=False)
    assert home.status_code in (302, 303) and urlparse(home.headers["Location"]).netloc in ("", urlparse(
        prod["url"]).netloc), home.headers
    unknown = requests.get("http://%s/web/login" % server.proxy_addr, headers={"Host": "nobody.e2e.test"},
                           timeout=10)
    assert unknown.status_code == 404, "a name the platform does not serve reaches no environment"


def test_a_message_reaches_a_websocket_client_through_the_proxy(server, prod):
    """Odoo's bus: a notification sent in production arrives on a websocket
    opened through nginx (routed to the gevent process)."""
    session = requests.Session()
    auth = session.post(prod["url"] + "/web/session/authenticate", json={
        "jsonrpc": "2.0", "method": "call", "id": 1,
        "params": {"db": prod["database_name"], "login": "admin", "password": prod["password"]}}, timeout=30).json()
    assert auth.get("result", {}).get("uid") == 2, auth
    ws = websocket.create_connection(
        "ws://%s/websocket" % server.proxy_addr, host=urlparse(prod["url"]).netloc, origin=prod["url"],
        cookie="session_id=%s" % session.cookies["session_id"], timeout=30)
    try:
        ws.send(json.dumps({"event_name": "subscribe", "data": {"channels": [], "last": 0}}))
        time.sleep(1)  # the subscription is taken before the message is sent
        action = call(prod, "ir.actions.server", "create", {
            "name": "e2e: bus message",
            "model_id": call(prod, "ir.model", "search", [("model", "=", "res.partner")])[0], "state": "code",
            "code": "env['bus.bus']._sendone(env.user.partner_id, 'e2e/hello', {'text': 'through the proxy'})"})
        call(prod, "ir.actions.server", "run", [action])
        deadline, received = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            for notification in json.loads(ws.recv()):
                received.append(notification["message"])
            if any(m["type"] == "e2e/hello" for m in received):
                break
    finally:
        ws.close()
    assert {"type": "e2e/hello", "payload": {"text": "through the proxy"}} in received, received


def test_code_only_redeploys_switch_without_a_failed_request(server, prod):
    """Two redeploys of the same code (nothing to update) while a visitor
    requests the login page every 50 ms through the proxy: not one fails."""
    manager = server.rpc("e2e_manager")
    before = current(server, prod)
    serving = [before]
    with Poller(prod["url"]) as visitor:
        for _ in range(2):
            queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "environment_id": prod["id"]})
            worker(server)
            run, logs = manager("ops.run", "api_read", [queued["id"]]), logs_of(manager, queued["id"])
            assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
            assert "No module to update" in logs and "The proxy serves" in logs, logs[-3000:]
            serving.append(current(server, prod))
    after = serving[-1]
    assert len(visitor.answers) > 40, "the visitor kept asking during both switches"
    assert visitor.failures() == [], visitor.failures()[:5]
    assert after["url"] == before["url"] and after["database_name"] == before["database_name"]
    # Each switch starts the new container at the serving address the old one does not hold (two per network).
    for old, new in zip(serving, serving[1:], strict=False):
        assert new["container_ip"] != old["container_ip"] and new["container_id"] != old["container_id"], (old, new)
    assert after["container_ip"] == before["container_ip"], "back on the first address after two switches"
    assert not docker.from_env().containers.list(all=True, filters={"id": before["container_id"]}), \
        "the old container is gone once the switch is done"


def test_a_stopped_environment_shows_a_page_saying_so(server, prod):
    manager = server.rpc("e2e_manager")
    for kind, status in (("stop", 503), ("start", 200)):
        queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": kind, "environment_id": prod["id"]})
        worker(server)
        run = manager("ops.run", "api_read", [queued["id"]])
        assert run["state"] == "succeeded", run["error_message"]
        answer = requests.get(prod["url"] + "/web/login", timeout=30)
        assert answer.status_code == status, (kind, answer.status_code, answer.text[:300])
        if kind == "stop":
            assert "Serving E2E is stopped" in answer.text and "Traceback" not in answer.text


def test_the_reconciliation_brings_the_proxy_back(server, prod):
    """nginx went away (a crash, a reboot): the reconciliation cron starts it
    with the configuration the records say."""
    subprocess.run(["nginx", "-p", server.proxy_root, "-c", "nginx.conf", "-s", "quit"], check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(os.path.join(server.proxy_root, "nginx.pid")):
        time.sleep(0.1)
    with pytest.raises(requests.ConnectionError):
        requests.get(prod["url"] + "/web/login", timeout=5)
    reconcile(server)
    assert requests.get(prod["url"] + "/web/login", timeout=30).status_code == 200

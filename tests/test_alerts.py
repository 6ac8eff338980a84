"""Incidents and alerts on a real production (srv-e2e): a memory hog in its
container is killed for memory and one OOM incident is notified once to a
local webhook receiver whose signature check passes; a request over the
real-time limit gets its worker killed and the log-pattern rule fires; the
container stopped by hand opens a downtime incident at the next collection
(a project admin's rule of one minute; the shipped rule's three-minute
window is test_alert_rules'), acknowledged with the CLI, resolved when it
is back. Developers see none of production's incidents."""

import hashlib
import hmac
import http.server
import json
import threading
import time
import xmlrpc.client

import pytest
from conftest import PROD_SLUG
from e2e import answers_within, ops, production_container, run_monitor

SECRET = "e2e-webhook-secret"


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        Receiver.received.append({"signed": hmac.compare_digest(expected, self.headers.get("X-Ipai-Ops-Signature", "")),
                                  "payload": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


DOWN_RULE = "e2e: down for a minute"


@pytest.fixture(scope="module")
def receiver(server, prod, prod_members):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    admin = server.rpc("e2e_admin")
    channel = admin("ops.alert.channel", "create", {
        "name": "e2e receiver", "project_id": prod["project_id"][0], "kind": "webhook", "min_severity": "info",
        "url": "http://127.0.0.1:%d/hook" % httpd.server_address[1], "new_secret": SECRET})
    # the project admin's own rule: down for one collection (the shipped one waits three minutes)
    rule = admin("ops.alert.rule", "create", {
        "name": DOWN_RULE, "project_id": prod["project_id"][0], "kind": "metric", "metric": "health_down",
        "comparison": ">=", "threshold": 1, "for_minutes": 1, "severity": "critical"})
    yield channel
    httpd.shutdown()
    server.rpc("e2e_manager")("ops.alert.channel", "unlink", [channel])
    admin("ops.alert.rule", "unlink", [rule])


def next_minute():
    time.sleep(61 - time.time() % 60)


def incidents(server, prod, rule_name, login="e2e_admin"):
    """The incidents of production opened by the shipped rule whose name starts with ``rule_name``."""
    return server.rpc(login)("ops.incident", "search_read", [("environment_id", "=", prod["id"]),
                                                              ("rule_id.name", "=like", rule_name + "%")],
                             ["state", "evidence", "acknowledged_by_id", "delivery_ids"])


def test_the_secret_is_write_only_for_project_admins(server, receiver):
    admin = server.rpc("e2e_admin")
    assert admin("ops.alert.channel", "read", [receiver], ["has_secret", "new_secret"])[0]["has_secret"] is True
    with pytest.raises(xmlrpc.client.Fault, match="secret"):
        admin("ops.alert.channel", "read", [receiver], ["secret"])


def test_an_oom_kill_opens_one_incident_notified_once(server, prod, receiver):
    run_monitor(server)  # a baseline reading of the container's OOM counter
    # 32 MB at a time, written: the container's 1 GB limit is reached long before the address-space limit
    hog = production_container(server, prod).exec_run(
        ["python3", "-c", "a = []\nwhile True:\n    a.append(b'x' * (32 << 20))"])
    assert hog.exit_code == 137, "the kernel killed the hog for memory: %s" % (hog,)
    run_monitor(server)
    found = incidents(server, prod, "Out of memory")
    assert len(found) == 1 and found[0]["state"] == "open" and "oom_kills" in found[0]["evidence"], found
    run_monitor(server)  # collecting again neither reopens nor notifies the opening again (the next minute resolves it)
    oom = [r for r in Receiver.received if r["payload"]["rule"].startswith("Out of memory")]
    opened = [r for r in oom if r["payload"]["event"] == "open"]
    assert len(opened) == 1 and opened[0]["signed"], Receiver.received
    assert [r["payload"]["event"] for r in oom] in (["open"], ["open", "resolve"]), oom
    assert opened[0]["payload"]["event"] == "open" and opened[0]["payload"]["project"] == PROD_SLUG
    events = server.rpc("e2e_admin")("ops.container.event", "search_read", [("environment_id", "=", prod["id"]),
                                                                            ("action", "=", "oom")], ["at"])
    assert events, "Docker's oom event is recorded"


def test_a_killed_worker_and_downtime_open_incidents_that_resolve(server, prod, receiver, ops_bin):
    """One timeline: a request over the 5 s real-time limit, then the
    container stopped by hand for a collection in the next minute, then back."""
    proxy = xmlrpc.client.ServerProxy("%s/xmlrpc/2/object" % prod["url"], allow_none=True)

    def call(model, method, *args):
        return proxy.execute_kw(prod["database_name"], 2, prod["password"], model, method, list(args))

    model = call("ir.model", "search", [("model", "=", "res.partner")])[0]
    action = call("ir.actions.server", "create", {"name": "e2e: too long for alerts", "model_id": model,
                                                  "state": "code", "code": "env.cr.execute('SELECT pg_sleep(30)')"})
    with pytest.raises((xmlrpc.client.ProtocolError, xmlrpc.client.Fault, ConnectionError, OSError)):
        call("ir.actions.server", "run", [action])
    stopped = production_container(server, prod)
    stopped.stop(timeout=10)
    try:
        next_minute()  # a minute the container is down all along
        run_monitor(server)
        killed = incidents(server, prod, "Odoo worker killed")
        assert len(killed) == 1 and "timeout after 5s" in killed[0]["evidence"], killed
        down = incidents(server, prod, DOWN_RULE)
        assert len(down) == 1 and down[0]["state"] == "open" and "health_down = 1" in down[0]["evidence"], down
        assert not incidents(server, prod, "Environment down"), "the shipped rule waits three minutes"
        listed = ops(ops_bin, server, "e2e_admin", "incident", "list", "--open", "--json")
        assert listed.returncode == 0 and any(i["id"] == down[0]["id"] for i in json.loads(listed.stdout)), listed
        acked = ops(ops_bin, server, "e2e_admin", "incident", "ack", str(down[0]["id"]))
        assert acked.returncode == 0, acked
        refused = ops(ops_bin, server, "e2e_dev", "incident", "ack", str(down[0]["id"]))
        assert refused.returncode == 1, refused
        assert server.rpc("e2e_dev")("ops.incident", "search_count", [("environment_id", "=", prod["id"])]) == 0
    finally:
        stopped.start()
    answers_within(prod["url"], 120)  # production came back
    run_monitor(server)
    down = incidents(server, prod, DOWN_RULE)
    assert down[0]["state"] == "resolved" and down[0]["acknowledged_by_id"], down
    events = [r["payload"]["event"] for r in Receiver.received if r["payload"]["rule"] == DOWN_RULE]
    assert events == ["open", "resolve"] and all(r["signed"] for r in Receiver.received), Receiver.received

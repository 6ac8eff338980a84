"""Live logs: production's Odoo log read through the control plane (XML-RPC,
the CLI, the download), kept across a container switch, followed as new
requests come in; who may read it follows the stage matrix; hostile
arguments get clear errors."""

import os
import subprocess
import time
import uuid
import xmlrpc.client

import pytest
import requests
from conftest import PROD_SLUG, refresh_prod
from e2e import logs_of, ops, run_worker


def visit(prod, marker):
    """A request through the proxy: Odoo logs its request line (werkzeug)."""
    assert requests.get(prod["url"] + "/web/login?marker=" + marker, timeout=30).status_code == 200


def grep(server, prod, text, login="e2e_admin", **kwargs):
    return server.rpc(login)("ops.environment", "logs", [prod["id"]], grep=text, **kwargs)["lines"]


def wait_for(server, prod, text, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        lines = grep(server, prod, text)
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_request_lines_are_found_and_kept_across_a_switch(server, prod, prod_members, ops_bin):
    marker = uuid.uuid4().hex
    visit(prod, marker)
    lines = wait_for(server, prod, marker.upper())  # case-insensitive
    assert len(lines) == 1 and "GET /web/login?marker=%s" % marker in lines[0]["text"], lines
    assert lines[0]["level"] == "INFO" and lines[0]["text"].split(" ", 3)[3].startswith("INFO"), lines
    assert grep(server, prod, marker, level="warning") == [], "an INFO line is not a warning"
    started = len(grep(server, prod, "Odoo version", limit=5000))
    manager = server.rpc("e2e_manager")
    before = manager("ops.environment", "read", [prod["id"]], ["container_id"])[0]["container_id"]
    queued = manager("ops.run", "queue_run", {"project": PROD_SLUG, "kind": "deploy", "environment_id": prod["id"]})
    run_worker(server, projects=PROD_SLUG)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "succeeded", (run["error_message"], logs_of(manager, queued["id"])[-2000:])
    after = manager("ops.environment", "read", [prod["id"]], ["container_id"])[0]["container_id"]
    assert after != before, "the deploy switched containers"
    refresh_prod(server, prod)
    assert len(grep(server, prod, marker)) == 1, "the old container's lines are kept"
    # prefork: the main process and the gevent process each say it once per container start
    assert len(grep(server, prod, "Odoo version", limit=5000)) > started, "the new container logs to the same log"
    printed = ops(ops_bin, server, "e2e_admin", "env", "logs", PROD_SLUG, "main", "--grep", marker, "--since", "1h")
    assert printed.returncode == 0 and marker in printed.stdout and len(printed.stdout.splitlines()) == 1, printed


def test_follow_prints_new_lines_as_they_come(server, prod, prod_members, ops_bin):
    marker = uuid.uuid4().hex
    env = dict(OPS_URL=server.url, OPS_DB=server.db, OPS_LOGIN="e2e_admin", OPS_API_KEY=server.keys["e2e_admin"])
    follower = subprocess.Popen([ops_bin, "env", "logs", PROD_SLUG, "main", "--follow", "--grep", marker, "-n", "5",
                                 "--interval", "0.3", "--timeout", "15"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=dict(os.environ, **env))
    try:
        time.sleep(2)
        for _ in range(3):
            visit(prod, marker)
        out, err = follower.communicate(timeout=40)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert len([line for line in out.splitlines() if marker in line]) == 3, (out, err)


def test_the_download_has_the_whole_log_for_those_who_may_read_it(server, prod, prod_members):
    marker = uuid.uuid4().hex
    visit(prod, marker)
    assert wait_for(server, prod, marker)
    url = "%s/ipai_ops/environment/%d/logs" % (server.url, prod["id"])
    answer = requests.get(url, headers={"Authorization": "Bearer " + server.keys["e2e_admin"]}, timeout=60)
    assert answer.status_code == 200 and marker in answer.text and "Odoo version" in answer.text
    refused = requests.get(url, headers={"Authorization": "Bearer " + server.keys["e2e_dev"]}, timeout=60)
    assert refused.status_code == 403 and "may not run 'logs' on production" in refused.text, refused.text


def test_only_admins_read_production_logs(server, prod, prod_members, ops_bin):
    for login in ("e2e_dev", "e2e_tester"):
        with pytest.raises(xmlrpc.client.Fault, match="may not run 'logs' on production"):
            server.rpc(login)("ops.environment", "logs", [prod["id"]])
    refused = ops(ops_bin, server, "e2e_dev", "env", "logs", PROD_SLUG, "main")
    assert refused.returncode == 1 and "role: developer" in refused.stderr and "'logs'" in refused.stderr, refused


@pytest.mark.parametrize("kwargs, message", [
    ({"since": "yesterday; rm -rf /"}, "is not a time"),
    ({"since": 12}, "must be a duration"),
    ({"until": "2026-13-45"}, "is not a time"),
    ({"grep": "a\nb"}, "one line of at most"),
    ({"grep": "x" * 500}, "one line of at most"),
    ({"level": "loud"}, "level is one of"),
    ({"limit": -1}, "limit is a number of lines"),
    ({"limit": 10**9}, "limit is a number of lines"),
    ({"after": "../../etc/passwd"}, "after is a cursor"),
])
def test_hostile_arguments_get_clear_errors(server, prod, prod_members, kwargs, message):
    with pytest.raises(xmlrpc.client.Fault, match=message):
        server.rpc("e2e_admin")("ops.environment", "logs", [prod["id"]], **kwargs)


def test_hostile_cli_arguments(server, prod, prod_members, ops_bin):
    bad = ops(ops_bin, server, "e2e_admin", "env", "logs", PROD_SLUG, "main", "--since", "$(reboot)")
    assert bad.returncode == 1 and "is not a time" in bad.stderr, bad
    missing = ops(ops_bin, server, "e2e_admin", "env", "logs", PROD_SLUG, "no-such-branch")
    assert missing.returncode == 1 and "has no environment for branch no-such-branch" in missing.stderr, missing
    for ids in ([987654321], [-3], ["1; DROP TABLE"]):
        with pytest.raises(xmlrpc.client.Fault, match="No environment with id|positive integers"):
            server.rpc("e2e_admin")("ops.environment", "logs", ids)

"""The `ops` CLI against a real running server."""

import json
import os
import subprocess
import time
import xmlrpc.client

import pytest

from ipai_ops_cli.client import fault_message


def ops(ops_bin, server, login, *args, api_key=None, timeout=60, check=True):
    env = dict(os.environ, OPS_URL=server.url, OPS_DB=server.db, OPS_LOGIN=login,
               OPS_API_KEY=api_key or server.keys[login], OPS_CONFIG="/nonexistent/ops.ini")
    proc = subprocess.run([ops_bin, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def ops_json(ops_bin, server, login, *args):
    return json.loads(ops(ops_bin, server, login, *args, "--json").stdout)


def test_project_list_follows_membership(ops_bin, server):
    projects = ops_json(ops_bin, server, "e2e_viewer", "project", "list")
    assert [p["slug"] for p in projects] == ["e2e-shop"]
    assert projects[0]["my_role"] == "viewer"
    assert ops_json(ops_bin, server, "e2e_outsider", "project", "list") == []
    text = ops(ops_bin, server, "e2e_owner", "project", "list").stdout
    assert "e2e-shop" in text and "SLUG" in text


def test_run_create_is_idempotent_and_listed(ops_bin, server):
    first = ops_json(ops_bin, server, "e2e_dev", "run", "create", "--project", "e2e-shop", "--kind", "build",
                     "--branch", "feature/cli", "--key", "cli-key-1", "--commit", "abc1234")
    again = ops_json(ops_bin, server, "e2e_dev", "run", "create", "--project", "e2e-shop", "--kind", "build",
                     "--branch", "feature/cli", "--key", "cli-key-1", "--commit", "abc1234")
    assert first["created"] is True and again["created"] is False and first["id"] == again["id"]
    assert (first["stage"], first["state"], first["commit_sha"]) == ("development", "queued", "abc1234")
    listed = ops_json(ops_bin, server, "e2e_viewer", "run", "list", "--project", "e2e-shop", "--state", "queued")
    assert first["id"] in [r["id"] for r in listed]
    shown = ops_json(ops_bin, server, "e2e_viewer", "run", "show", first["name"])
    assert shown["id"] == first["id"] and shown["events"][0]["message"].startswith("Queued by e2e_dev")
    text = ops(ops_bin, server, "e2e_viewer", "run", "show", str(first["id"])).stdout
    assert "EVENTS" in text and "queued" in text


def test_cli_errors_are_clear(ops_bin, server):
    denied = ops(ops_bin, server, "e2e_viewer", "run", "create", "--project", "e2e-shop", "--kind", "build",
                 "--branch", "feature/cli", check=False)
    assert denied.returncode == 1 and "role: viewer" in denied.stderr and "Traceback" not in denied.stderr
    hostile = ops(ops_bin, server, "e2e_dev", "run", "create", "--project", "e2e-shop", "--kind", "build",
                  "--branch", "$(touch /tmp/ops-pwned)", check=False)
    assert hostile.returncode == 1 and "Invalid branch name" in hostile.stderr
    assert not os.path.exists("/tmp/ops-pwned")
    bad_key = ops(ops_bin, server, "e2e_dev", "project", "list", api_key="not-a-key", check=False)
    assert bad_key.returncode == 2 and "authentication failed" in bad_key.stderr
    unknown = ops(ops_bin, server, "e2e_dev", "run", "show", "e2e-shop#999999", check=False)
    assert unknown.returncode == 1 and "no run e2e-shop#999999" in unknown.stderr
    gone = ops(ops_bin, server, "e2e_manager", "backup", "restore", "987654321", check=False)
    assert gone.returncode == 1 and "No backup with id 987654321" in gone.stderr, gone.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_")}
    env["OPS_CONFIG"] = "/nonexistent/ops.ini"
    missing = subprocess.run([ops_bin, "project", "list"], env=env, capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "OPS_API_KEY" in missing.stderr


def test_the_cli_prints_the_server_s_whole_message():
    """Odoo's faults as /xmlrpc/2 sends them: a missing record's two lines,
    and a traceback's exception (a message spanning lines included)."""
    missing = xmlrpc.client.Fault(2, "Record does not exist or has been deleted.\n"
                                     "(Record: ops.backup(987654321,), User: 2)")
    assert fault_message(missing) == ("Record does not exist or has been deleted. "
                                      "(Record: ops.backup(987654321,), User: 2)")
    trace = ("Traceback (most recent call last):\n  File \"/odoo/http.py\", line 1, in dispatch\n"
             "    result = call()\n           ^^^^\nValueError: Invalid domain\nsecond line of it\n")
    assert fault_message(xmlrpc.client.Fault(1, trace)) == "ValueError: Invalid domain second line of it"


def test_config_file(ops_bin, server, tmp_path):
    ini = tmp_path / "ops.ini"
    ini.write_text("[ops]\nurl = %s\ndb = %s\nlogin = e2e_owner\napi_key = %s\n"
                   % (server.url, server.db, server.keys["e2e_owner"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_")}
    proc = subprocess.run([ops_bin, "--config", str(ini), "--json", "project", "list"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "e2e-shop" in [p["slug"] for p in json.loads(proc.stdout)]


def test_logs_follow_streams_until_the_run_finishes(ops_bin, server):
    run = ops_json(ops_bin, server, "e2e_owner", "run", "create", "--project", "e2e-shop", "--kind", "stop",
                   "--branch", "feature/base", "--priority", "1000")
    env = dict(os.environ, OPS_URL=server.url, OPS_DB=server.db, OPS_LOGIN="e2e_viewer",
               OPS_API_KEY=server.keys["e2e_viewer"], OPS_CONFIG="/nonexistent/ops.ini")
    follower = subprocess.Popen([ops_bin, "run", "logs", run["name"], "--follow", "--json", "--interval", "0.2",
                                 "--timeout", "120"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        worker = server.rpc("e2e_worker")
        claimed = worker("ops.run", "claim_next_run", "cli-worker", ["stop"])
        assert claimed["id"] == run["id"]
        worker("ops.run", "start_workflow_run", [run["id"]], worker_id="cli-worker")
        worker("ops.run", "append_run_log", [run["id"]], ["step 1", "step 2", "step 3"])
        time.sleep(1.0)
        assert follower.poll() is None, "--follow must wait while the run is running"
        worker("ops.run", "append_run_log", [run["id"]], ["step 4", {"level": "error", "message": "step 5"}])
        worker("ops.run", "complete_workflow_run", [run["id"]], 1, "step 5 failed", worker_id="cli-worker")
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["message"] for line in lines] == ["step 1", "step 2", "step 3", "step 4", "step 5"]
    assert lines[-1]["level"] == "error"
    shown = ops_json(ops_bin, server, "e2e_viewer", "run", "show", run["name"])
    assert (shown["state"], shown["error_message"]) == ("failed", "step 5 failed")


@pytest.mark.parametrize("action,expected", [("cancel", "canceled")])
def test_run_actions(ops_bin, server, action, expected):
    run = ops_json(ops_bin, server, "e2e_dev", "run", "create", "--project", "e2e-shop", "--kind", "build",
                   "--branch", "feature/base")
    result = ops_json(ops_bin, server, "e2e_dev", "run", action, run["name"])
    assert result["run"]["state"] == expected
    retried = ops_json(ops_bin, server, "e2e_dev", "run", "retry", run["name"])
    assert retried["result"]["state"] == "queued" and retried["result"]["id"] != run["id"]

"""The API gets exactly what the UI gets: role checks over real XML-RPC."""

import xmlrpc.client

import pytest

ACCESS_ERROR = 4  # Odoo's XML-RPC fault codes
USER_ERROR = 2  # UserError and ValidationError


def fault(call, *args, code, **kwargs):
    """Call, expect an XML-RPC fault with Odoo's ``code``, return its message."""
    with pytest.raises(xmlrpc.client.Fault) as info:
        call(*args, **kwargs)
    assert info.value.faultCode == code, info.value.faultString
    return info.value.faultString


def test_outsider_sees_nothing_and_cannot_read(server):
    rpc = server.rpc("e2e_outsider")
    assert rpc("ops.project", "search_read", [], fields=["slug"]) == []
    assert rpc("ops.run", "search_count", []) == 0
    assert "doesn't have 'read' access" in fault(rpc, "ops.project", "read", [server.project_id], ["name"],
                                                 code=ACCESS_ERROR)
    assert "not a member" in fault(rpc, "ops.run", "queue_run", {"project": "e2e-shop", "kind": "build",
                                                                  "branch": "feature/x"}, code=ACCESS_ERROR)


def test_viewer_cannot_queue(server):
    rpc = server.rpc("e2e_viewer")
    assert [p["slug"] for p in rpc("ops.project", "search_read", [], fields=["slug"])] == ["e2e-shop"]
    message = fault(rpc, "ops.run", "queue_run", {"project": "e2e-shop", "kind": "build",
                                                   "environment_id": server.envs["feature/base"]},
                    code=ACCESS_ERROR)
    assert "role: viewer" in message


def test_developer_acts_on_development_only(server):
    rpc = server.rpc("e2e_dev")
    run = rpc("ops.run", "queue_run", {"project": "e2e-shop", "kind": "build",
                                        "environment_id": server.envs["feature/base"]})
    assert run["state"] == "queued" and run["stage"] == "development"
    message = fault(rpc, "ops.run", "queue_run", {"project": "e2e-shop", "kind": "deploy",
                                                   "environment_id": server.envs["main"]},
                    code=ACCESS_ERROR)
    assert "may not run 'deploy' on production" in message
    assert "may not run 'deploy'" in fault(rpc, "ops.environment", "action_deploy", [server.envs["main"]],
                                           code=ACCESS_ERROR)
    # Nor can a developer forge state over RPC, or act as a worker.
    fault(rpc, "ops.run", "write", [run["id"]], {"state": "succeeded"}, code=ACCESS_ERROR)
    assert "Only Ops Workers" in fault(rpc, "ops.run", "claim_next_run", "dev-pretending", code=ACCESS_ERROR)


def test_hostile_arguments_get_clear_errors(server):
    rpc = server.rpc("e2e_owner")
    before = rpc("ops.run", "search_count", [])
    base = {"project": "e2e-shop", "kind": "build"}
    cases = [
        ({"branch": "a;rm -rf /"}, "Invalid branch name"),
        ({"branch": "$(touch /tmp/pwned)"}, "Invalid branch name"),
        ({"branch": "../../etc"}, "Invalid branch name"),
        ({"branch": "x" * 300}, "longer than 200"),
        ({"branch": "a\nb"}, "Invalid branch name"),
        ({"kind": "; DROP TABLE ops_run"}, "cannot be queued: no worker executes it"),
        ({"kind": "clone", "branch": "feature/base"}, "Kinds that run: backup, build, deploy"),
        ({"config": {"import_path": "/etc/passwd"}, "branch": "feature/base"}, "set by the platform"),
        ({"project": ["e2e-shop"]}, "slug or id"),
        ({"priority": "1; --", "branch": "feature/base"}, "priority must be an integer"),
        ({"commit_sha": "HEAD~1; id", "branch": "feature/base"}, "Invalid commit sha"),
        ({"config": "not a dict", "branch": "feature/base"}, "config must be a dictionary"),
    ]
    for values, expected in cases:
        message = fault(rpc, "ops.run", "queue_run", dict(base, **values), code=USER_ERROR)
        assert expected in message and "Traceback" not in message, message
    assert "expects a dictionary" in fault(rpc, "ops.run", "queue_run", "not a dict", code=USER_ERROR)
    assert rpc("ops.run", "search_count", []) == before, "nothing half made"
    assert not rpc("ops.environment", "search", [("branch", "like", "rm -rf")])


def test_nobody_edits_or_deletes_events_over_rpc(server):
    manager = server.rpc("e2e_manager")
    run = manager("ops.run", "queue_run", {"project": "e2e-shop", "kind": "stop",
                                            "environment_id": server.envs["feature/base"]})
    event_ids = manager("ops.run.event", "search", [("run_id", "=", run["id"])])
    assert event_ids
    assert "append-only" in fault(manager, "ops.run.event", "write", event_ids, {"message": "x"},
                                  code=ACCESS_ERROR)
    # Refused by the access rules before the append-only guard (which stops even the superuser).
    assert "not allowed to delete" in fault(manager, "ops.run.event", "unlink", event_ids, code=ACCESS_ERROR)
    assert manager("ops.run.event", "search_count", [("run_id", "=", run["id"])]) == len(event_ids)
    manager("ops.run", "cancel_run", [run["id"]])


def test_worker_round_trip(server):
    owner = server.rpc("e2e_owner")
    worker = server.rpc("e2e_worker")
    run = owner("ops.run", "queue_run", {"project": "e2e-shop", "kind": "start", "priority": 900,
                                          "environment_id": server.envs["release/1.0"]})
    claimed = worker("ops.run", "claim_next_run", "rpc-worker", ["start"])
    assert claimed["id"] == run["id"] and claimed["state"] == "claimed"
    worker("ops.run", "start_workflow_run", [run["id"]], worker_id="rpc-worker")
    assert worker("ops.run", "append_run_log", [run["id"]], ["one", {"level": "warning", "message": "two"}]) == 2
    assert worker("ops.run", "heartbeat", [run["id"]], worker_id="rpc-worker") == {str(run["id"]): "running"}
    artifact = worker("ops.run", "add_run_artifact", [run["id"]], "image", "ipai-ops/e2e-shop:abc")
    assert artifact
    worker("ops.run", "complete_workflow_run", [run["id"]], 0, False, worker_id="rpc-worker")
    shown = owner("ops.run", "api_read", [run["id"]])
    assert (shown["state"], shown["result"]) == ("succeeded", "warning")
    env = owner("ops.environment", "read", [server.envs["release/1.0"]], ["last_result", "last_run_id"])[0]
    assert env["last_result"] == "warning" and env["last_run_id"][0] == run["id"]


def test_developer_cannot_point_an_environment_at_someone_elses(server):
    """Runtime fields are written by runs only, on create as on write: an
    environment created with another one's database name or container id
    would make the next destroy or build act on that one."""
    dev, manager = server.rpc("e2e_dev"), server.rpc("e2e_manager")
    # Another environment's names when one was built earlier in the session, made-up ones otherwise:
    # the fields are refused whatever they hold.
    victims = manager("ops.environment", "search_read", [("database_name", "!=", False)], fields=[
        "database_name", "container_id"], limit=1)
    victim = victims[0] if victims else {"database_name": "e2e_shop_main", "container_id": False}
    for values in ({"database_name": victim["database_name"]}, {"container_id": victim["container_id"] or "c" * 64},
                   {"state": "running", "url": "http://127.0.0.1:8069"}, {"db_role": "ops_x_e1"}):
        for rpc in (dev, manager):
            message = fault(rpc, "ops.environment", "create", dict(
                values, project_id=server.project_id, branch="feature/hijack"), code=ACCESS_ERROR)
            assert "can only be set by runs" in message, message
    assert not manager("ops.environment", "search", [("branch", "=", "feature/hijack")])
    # Nor are the platform's secrets readable over RPC, even by an Ops Manager.
    for field in ("db_password", "admin_password"):
        fault(manager, "ops.environment", "read", [server.envs["main"]], [field], code=ACCESS_ERROR)

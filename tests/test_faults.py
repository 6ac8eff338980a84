"""The run engine under faults and concurrency, with real processes, Docker
and PostgreSQL: a worker killed in the middle of a build, six builds of two
projects drained at once by the host's workers, malformed arguments to
every public method over XML-RPC.
"""

import os
import signal
import subprocess
import time

import pytest
import requests
from conftest import _odoo_cmd
from e2e import (
    docker_ready,
    leftovers,
    logs_of,
    make_addon_repo,
    namespace,
    odoo_command,
    reap,
    remove_leftovers,
    run_worker,
    serves,
    shell,
    worker_cmd,
)
from test_xmlrpc_access import USER_ERROR, fault

SLUGS = ("flt-a", "flt-b")
BRANCHES = ("feature/one", "feature/two", "feature/three")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_addon_repo(tmp_path_factory.mktemp("fltgit"), branches=BRANCHES, red_branch=None)


@pytest.fixture(scope="module")
def projects(server, repo):
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    manager = server.rpc("e2e_manager")
    for slug in SLUGS:
        remove_leftovers(slug)
        manager("ops.project", "create", {"name": slug, "slug": slug, "repo_url": repo, "mem_limit_mb": 1024})
    yield SLUGS
    for slug in SLUGS:
        remove_leftovers(slug)


def test_a_build_killed_during_its_install_is_retried_cleanly(server, projects):
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUGS[0], "kind": "build", "branch": BRANCHES[0]})
    proc = subprocess.Popen(worker_cmd(server, "doomed", [SLUGS[0]]), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while "Installing" not in logs_of(manager, queued["id"]):
        assert time.monotonic() < deadline and proc.poll() is None, "the install never started"
        time.sleep(0.5)
    assert manager("ops.run.artifact", "search_count", [("run_id", "=", queued["id"]), ("key", "=", "image")]) == 1
    time.sleep(3)  # well into Odoo's install
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.monotonic()
    left = leftovers(server, queued)
    assert left["containers"] and left["databases"], "the killed attempt left its container and database: %s" % left

    reap(server)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert (run["state"], run["attempt"]) == ("queued", 2), run
    assert leftovers(server, queued) == {"containers": [], "databases": [], "directories": []}, \
        "the reaper removed the lost attempt's leftovers at once"

    run_worker(server, projects=SLUGS[0])
    run = manager("ops.run", "api_read", [queued["id"]])
    recovered = time.monotonic() - killed_at
    assert run["state"] == "succeeded", (run["error_message"], logs_of(manager, queued["id"])[-3000:])
    attempts = manager("ops.run.attempt", "search_read", [("run_id", "=", queued["id"])],
                       fields=["number", "outcome", "reason", "started_at", "finished_at"], order="number")
    assert [(a["number"], a["outcome"]) for a in attempts] == [(1, "lost"), (2, "succeeded")]
    assert "stopped sending heartbeats" in attempts[0]["reason"]
    assert all(a["started_at"] and a["finished_at"] for a in attempts)
    env = manager("ops.environment", "read", [queued["environment_id"]], ["url", "database_name", "container_id"])[0]
    assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
    assert env["database_name"].startswith("%s_%d_%d_" % (namespace(server), queued["environment_id"], queued["id"]))
    images = manager("ops.run.artifact", "search_read", [("run_id", "=", queued["id"])], fields=["key"])
    assert sorted(a["key"] for a in images) == ["image", "log"], "one image, one log: attempt 2's"
    print("kill to retried success: %.1fs" % recovered)


def test_six_builds_of_two_projects_at_once(server, projects):
    """The host's workers as `make run` starts them (`odoo-bin ops-workers`,
    slots sized from the machine) drain six builds of two projects together:
    six networks, each URL serving its own database. The queue's cron, run
    meanwhile, takes none: workers are alive."""
    manager = server.rpc("e2e_manager")
    # Only these builds in the queue (the demo and earlier tests leave runs queued).
    shell(server, 'env["ops.run"].search([("state", "=", "queued")]).cancel_run("set aside by test_faults")\n'
                  'env.cr.commit()\n')
    supervisor = subprocess.Popen(odoo_command(server, "ops-workers") + [
        "--worker-id", "par", "--projects", ",".join(SLUGS), "--log-level=warn"], start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = supervisor.stdout.readline()
        while not first.startswith("ops-workers: "):
            assert first, "the supervisor said nothing"
            first = supervisor.stdout.readline()
        slots = int(first.split(":")[1].split()[0])
        assert slots >= 2, first
        deadline = time.monotonic() + 60
        while len(manager("ops.worker", "search_read", [("name", "like", "par-")], fields=["alive"])) < slots:
            assert time.monotonic() < deadline, "the workers did not register"
            time.sleep(0.5)
        queued = [manager("ops.run", "queue_run", {"project": slug, "kind": "build", "branch": branch})
                  for slug in SLUGS for branch in BRANCHES]
        cron = subprocess.run(_odoo_cmd(server.db, "shell") + ["--no-http", "--log-level=warn"],
                              input='print("DRAINED", env["ops.run"]._cron_process_queue())\n', capture_output=True,
                              text=True, timeout=300)
        assert "DRAINED 0" in cron.stdout, cron.stdout[-2000:] + cron.stderr[-2000:]
        deadline = time.monotonic() + 900
        while any(manager("ops.run", "api_read", [q["id"]])["state"] in ("queued", "claimed", "running")
                  for q in queued):
            assert time.monotonic() < deadline, "the six builds did not finish"
            time.sleep(2)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        output = supervisor.communicate(timeout=120)[0]
    assert "Traceback" not in output, output[-3000:]
    runs = [manager("ops.run", "api_read", [q["id"]]) for q in queued]
    assert [r["state"] for r in runs] == ["succeeded"] * 6, [(r["name"], r["error_message"]) for r in runs]
    assert {r["claimed_by"].rsplit("-", 1)[0] for r in runs} == {"par"}, "the workers took them all"
    envs = manager("ops.environment", "read", [q["environment_id"] for q in queued],
                   ["url", "network_subnet", "database_name"])
    assert len({e["network_subnet"] for e in envs}) == 6, [e["network_subnet"] for e in envs]
    for env in envs:
        assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
        assert serves(env["url"], env["database_name"]), env
        others = [e["database_name"] for e in envs if e is not env]
        assert not any(serves(env["url"], other) for other in others[:2]), env
    for q in queued:
        manager("ops.environment", "action_destroy", [q["environment_id"]])
    run_worker(server, projects=",".join(SLUGS))


def test_malformed_arguments_get_clear_errors(server):
    """Every public method, over XML-RPC, with arguments of the wrong shape:
    a message naming the argument, never a traceback or a database error,
    and nothing queued."""
    owner, worker, manager = server.rpc("e2e_owner"), server.rpc("e2e_worker"), server.rpc("e2e_manager")
    before = manager("ops.run", "search_count", [])
    run_id = owner("ops.run", "queue_run", {"project": "e2e-shop", "kind": "build", "branch": "feature/base"})["id"]
    missing = 999999999
    env_id = server.envs["feature/base"]
    cases = [
        (owner, "ops.run", "queue_run", [{"project": "e2e-shop", "kind": "build", "environment_id": "abc"}],
         "environment_id must be the id"),
        (owner, "ops.run", "queue_run", [{"project": "e2e-shop", "kind": "build", "workflow_id": "x"}],
         "Unknown queue_run values: workflow_id"),
        (owner, "ops.run", "queue_run", [{"project": "e2e-shop", "kind": "build", "max_attempts": "3"}],
         "max_attempts must be an integer"),
        (owner, "ops.run", "list_queued_runs", ["all"], "limit must be an integer"),
        (owner, "ops.run", "list_queued_runs", [10, "build"], "kinds must be a list"),
        (owner, "ops.run", "api_read", [["abc"]], "Run ids are positive integers"),
        (owner, "ops.run", "cancel_run", [["abc"]], "Run ids are positive integers"),
        (owner, "ops.run", "cancel_run", [[run_id], 42], "reason must be a text"),
        (owner, "ops.run", "retry_run", [[missing]], "No run with id %d" % missing),
        (owner, "ops.run", "approve_run", [[missing]], "No run with id"),
        (owner, "ops.run", "reject_run", [["x"]], "Run ids are positive integers"),
        (worker, "ops.run", "claim_next_run", [42], "Invalid worker id"),
        (worker, "ops.run", "claim_next_run", ["w", "build"], "kinds must be a list"),
        (worker, "ops.run", "claim_next_run", ["w", None, "e2e-shop"], "projects must be a list"),
        (worker, "ops.run", "heartbeat", [[missing], "w"], "No run with id"),
        (worker, "ops.run", "start_workflow_run", [["x"], "w"], "Run ids are positive integers"),
        (worker, "ops.run", "complete_workflow_run", [[run_id], "0"], "exit_code must be an integer"),
        (worker, "ops.run", "append_run_log", [[run_id], 42], "Log lines must be a string or a list"),
        (worker, "ops.run", "add_run_artifact", [[run_id], "bad key!", "x"], "Invalid artifact key"),
        (worker, "ops.run", "add_run_artifact", [[run_id], "image", "x", None, None, "big"],
         "size must be a non-negative integer"),
        (owner, "ops.environment", "promote", [["x"]], "Environment ids are positive integers"),
        (owner, "ops.environment", "rollback", [[missing]], "No environment with id"),
        (owner, "ops.environment", "promote_branch", ["e2e-shop", "a;b"], "Invalid branch name"),
        (owner, "ops.environment", "rollback_project", [missing], "No project"),
        (owner, "ops.environment", "set_admin_password", [[env_id], 12345], "at least 10 characters"),
        (owner, "ops.backup", "create_backup", [{"project": "e2e-shop", "environment_id": "abc"}],
         "environment_id must be the id"),
        (owner, "ops.backup", "create_backup", ["prod"], "create_backup expects"),
        (owner, "ops.backup", "list_backups", ["e2e-shop", "10"], "limit must be an integer"),
        (owner, "ops.backup", "restore_backup", [["x"]], "Backup ids are positive integers"),
        (owner, "ops.backup", "restore_backup", [[missing]], "No backup with id"),
    ]
    for rpc, model, method, args, expected in cases:
        message = fault(rpc, model, method, *args, code=USER_ERROR)
        assert expected in message, (method, args, message)
        for raw in ("Traceback", "ValueError", "invalid literal", "psycopg2", "invalid input syntax"):
            assert raw not in message, (method, args, message)
    manager("ops.run", "cancel_run", [run_id])
    assert manager("ops.run", "search_count", []) == before + 1, "nothing else was queued"
    assert manager("ops.run", "api_read", [run_id])["state"] == "canceled"

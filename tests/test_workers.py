"""The workers of a host, as `make run` starts them (`odoo-bin ops-workers`):
one process per slot, each started again when it dies, woken by the queue
at once (PostgreSQL NOTIFY), stopped with the control plane; the run a
killed worker held is retried by the reaper's rules. Real processes, a real
build, the real queue."""

import os
import signal
import subprocess
import time
import xmlrpc.client

import pytest
import requests
from e2e import docker_ready, make_addon_repo, odoo_command, reap, remove_leftovers

# The longest names nginx must serve: a 63-character label (the branch) in a
# 120-character hostname (<branch>.<slug>.e2e.test).
SLUG = "wrk-e2e-" + "w" * 39
BRANCH = "feature/" + "b" * 55
PREFIX = "sup-e2e"


def worker_pids():
    """{worker id: pid} of the ops-worker processes of this module's supervisor (from /proc)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                words = handle.read().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        if "ops-worker" in words and "--worker-id" in words:
            name = words[words.index("--worker-id") + 1]
            if name.startswith(PREFIX + "-"):
                found[name] = int(entry)
    return found


def wait_for(check, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("%s within %d s (workers seen: %s)" % (what, seconds, worker_pids()))


@pytest.fixture(scope="module")
def project(server, tmp_path_factory):
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    repo = make_addon_repo(tmp_path_factory.mktemp("wrkgit"), branches=(BRANCH,), red_branch=None)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {"name": "Workers E2E", "slug": SLUG, "repo_url": repo,
                                                   "mem_limit_mb": 1024})
    yield project_id
    remove_leftovers(SLUG)


@pytest.fixture(scope="module")
def supervisor(server, project):
    proc = subprocess.Popen(odoo_command(server, "ops-workers") + [
        "--slots", "2", "--worker-id", PREFIX, "--projects", SLUG, "--grace", "5", "--log-level=warn"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        # It says so when it has started them (each "started (pid N)").
        said = [proc.stdout.readline()]
        # Registered before its processes have even loaded Odoo: the control plane's cron fallback
        # (for a bare odoo-bin) takes no run while they start.
        early = server.rpc("e2e_manager")("ops.worker", "search_read", [("name", "like", PREFIX + "-")],
                                          fields=["name", "alive"])
        assert sorted((w["name"], w["alive"]) for w in early) == [(PREFIX + "-1", True), (PREFIX + "-2", True)], early
        said += [proc.stdout.readline() for _ in range(2)]
        assert said[0].startswith("ops-workers: 2 worker process(es)") and all(" started (pid " in line
                                                                               for line in said[1:]), said
        wait_for(lambda: len(worker_pids()) == 2, 60, "two worker processes")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_one_process_per_slot_woken_at_once(server, supervisor):
    manager = server.rpc("e2e_manager")
    assert sorted(worker_pids()) == ["%s-1" % PREFIX, "%s-2" % PREFIX]
    # Each process has taken over the record its supervisor made for it (its own pid): it listens now.
    workers = wait_for(lambda: (lambda found: found if sorted(w["pid"] for w in found) == sorted(
        worker_pids().values()) else None)(
        manager("ops.worker", "search_read", [("name", "like", PREFIX + "-")],
                fields=["name", "alive", "slots", "pid"])),
        60, "both worker processes registered themselves")
    assert all(w["alive"] and w["slots"] == 1 for w in workers) and len(workers) == 2, workers
    # Queued -> claimed: the queue wakes them (their poll is every 5 s).
    waits = []
    for _ in range(5):
        queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "stop", "branch": BRANCH})
        run = wait_for(lambda q=queued: (lambda r: r if r["state"] not in ("queued",) else None)(
            manager("ops.run", "api_read", [q["id"]])), 10, "the run claimed")
        run_row = manager("ops.run", "read", [queued["id"]], ["create_date", "claimed_at"])[0]
        waits.append(_dt(run_row["claimed_at"]) - _dt(run_row["create_date"]))
        assert run["claimed_by"].startswith(PREFIX), run
    assert max(waits) < 2.0, "queue to claim took %s s" % waits


def _dt(value):
    import datetime

    return datetime.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").timestamp()


def test_a_killed_worker_comes_back_and_its_run_is_retried(server, supervisor):
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": BRANCH})
    run = wait_for(lambda: (lambda r: r if r["state"] == "running" else None)(
        manager("ops.run", "api_read", [queued["id"]])), 60, "the build started")
    holder = run["claimed_by"]
    before = worker_pids()
    os.kill(before[holder], signal.SIGKILL)
    killed = time.monotonic()
    again = wait_for(lambda: (lambda p: p if p.get(holder) not in (None, before[holder]) else None)(worker_pids()),
                     10, "the killed worker started again")
    assert again[holder] != before[holder]
    print("worker back after %.1f s" % (time.monotonic() - killed))
    reap(server)  # its heartbeats stopped: requeued (attempt 2), and a worker takes it again
    done = wait_for(lambda: (lambda r: r if r["state"] in ("succeeded", "failed") else None)(
        manager("ops.run", "api_read", [queued["id"]])), 400, "the build retried to its end")
    assert done["state"] == "succeeded" and done["attempt"] == 2, (done["state"], done["attempt"],
                                                                   done["error_message"])
    attempts = manager("ops.run.attempt", "search_read", [("run_id", "=", queued["id"])],
                       fields=["number", "outcome"], order="number")
    assert [(a["number"], a["outcome"]) for a in attempts] == [(1, "lost"), (2, "succeeded")]
    env = manager("ops.environment", "read", [queued["environment_id"]], ["url", "hostname"])[0]
    assert len(env["hostname"]) == 120 and len(env["hostname"].split(".")[0]) == 63, env["hostname"]
    assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200, "served through nginx"


def test_they_stop_with_the_control_plane(server, supervisor):
    manager = server.rpc("e2e_manager")
    supervisor.send_signal(signal.SIGTERM)
    supervisor.wait(timeout=60)
    wait_for(lambda: not worker_pids(), 20, "no worker process left")
    workers = manager("ops.worker", "search_read", [("name", "like", PREFIX + "-")], fields=["alive", "stopped_at"])
    assert workers and not any(w["alive"] for w in workers) and all(w["stopped_at"] for w in workers), workers


def test_a_setting_changed_in_the_backend_reaches_a_running_worker(server, project, tmp_path):
    """A long-lived worker takes up what the backend changed between two of
    its runs, as Odoo's own workers do between two jobs: an administrator
    lowers ipai_ops.memory_overcommit, and the worker's next start of an
    environment obeys it without a restart (it read the setting at its
    previous start)."""
    manager = server.rpc("e2e_manager")
    uid = xmlrpc.client.ServerProxy(server.url + "/xmlrpc/2/common").authenticate(server.db, "admin", "admin", {})
    assert uid, "the demo data's administrator logs in"
    models = xmlrpc.client.ServerProxy(server.url + "/xmlrpc/2/object", allow_none=True)

    def set_overcommit(value):  # Settings, as the administrator: through the backend's own RPC
        models.execute_kw(server.db, uid, "admin", "ir.config_parameter", "set_param",
                          ["ipai_ops.memory_overcommit", value])

    def run(kind):
        queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": kind, "branch": BRANCH})
        return wait_for(lambda: (lambda r: r if r["state"] in ("succeeded", "failed") else None)(
            manager("ops.run", "api_read", [queued["id"]])), 180, "the %s run ended" % kind)

    manager("ops.project", "write", [project], {"mem_limit_mb": 4096})
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(odoo_command(server, "ops-worker") + [
            "--worker-id", "cache-e2e", "--projects", SLUG, "--concurrency", "1", "--poll", "1", "--log-level=warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for kind in ("stop", "start", "stop"):
            done = run(kind)
            assert done["state"] == "succeeded", (kind, done["error_message"])
        set_overcommit("0.1")  # 10 % of the machine: less than the project's 4 GB
        refused = run("start")
        assert refused["state"] == "failed" and "the limit is 10 %" in refused["error_message"], \
            refused["error_message"]
    finally:
        set_overcommit(False)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        manager("ops.project", "write", [project], {"mem_limit_mb": 1024})

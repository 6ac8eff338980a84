"""The backend's tours against real builds (Odoo's tours in Chromium,
tests/browser.py, on the end-to-end control plane): a development build
followed live in its run form from the queue to its result while a real
worker builds it; Connect from production's form, the link it gives followed
like a browser. The tours with prepared records are in
addons/ipai_ops_core/tests/test_ui_tours.py (make test runs both)."""

import threading

import pytest
import requests
from browser import Tour
from e2e import make_addon_repo, remove_leftovers, run_worker

SLUG = "tour-e2e"


@pytest.fixture(scope="module")
def project(server, tmp_path_factory):
    remove_leftovers(SLUG)
    repo = make_addon_repo(tmp_path_factory.mktemp("tourgit"), branches=("feature/live",), red_branch=None)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {
        "name": "Tours E2E", "slug": SLUG, "repo_url": repo,
        "member_ids": [(0, 0, {"user_id": server.uids["e2e_dev"], "role": "developer"})]})
    yield project_id
    manager("ops.project.member", "unlink", manager("ops.project.member", "search",
                                                    [("project_id", "=", project_id)]))
    remove_leftovers(SLUG)


def test_a_real_build_is_followed_live(server, project):
    queued = server.rpc("e2e_dev")("ops.run", "queue_run", {"project": SLUG, "kind": "build",
                                                           "branch": "feature/live"})
    outcome = {}

    def work():
        try:
            run_worker(server, projects=SLUG)
        except BaseException as exc:  # noqa: BLE001 - said by the test below
            outcome["error"] = exc

    worker = threading.Thread(target=work)

    def on_signal(name):
        if name == "queued-seen" and "started" not in outcome:
            worker.start()
            outcome["started"] = True

    try:
        tour = Tour(server, "e2e_dev", on_signal).run("/odoo/action-ipai_ops_core.action_ops_run/%d" % queued["id"],
                                                      "ipai_ops_e2e_build_followed_live", timeout=720)
    finally:
        if outcome.get("started"):
            worker.join(600)  # the build ends before the project's leftovers go
    assert not outcome.get("error"), outcome["error"]
    assert tour.signals == ["queued-seen", "succeeded-seen"], tour.signals
    run = server.rpc("e2e_manager")("ops.run", "read", [queued["id"]], ["state", "environment_id"])[0]
    assert run["state"] == "succeeded"
    env = server.rpc("e2e_manager")("ops.environment", "read", [run["environment_id"][0]], ["state", "url"])[0]
    assert env["state"] == "running" and requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
    print("interactive (ms):", tour.interactive)


def test_connect_from_the_form_of_production(server, prod, prod_members):
    tour = Tour(server, "e2e_admin").run("/odoo/action-ipai_ops_core.action_ops_environment/%d" % prod["id"],
                                         "ipai_ops_e2e_connect")
    opened = [name.split(":", 1)[1] for name in tour.signals if name.startswith("opened:")]
    assert len(opened) == 1 and opened[0].startswith(prod["url"] + "/ipai_ops/connect?token="), tour.signals
    browser = requests.Session()
    landed = browser.get(opened[0], timeout=60)
    assert landed.status_code == 200 and "/web/login" not in landed.url, (landed.url, landed.status_code)
    info = browser.post(prod["url"] + "/web/session/get_session_info", json={
        "jsonrpc": "2.0", "method": "call", "id": 1, "params": {}}, timeout=30).json()["result"]
    assert info["uid"] == 2 and info["db"] == prod["database_name"], info
    print("interactive (ms):", tour.interactive)

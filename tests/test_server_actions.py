"""The everyday actions as Odoo server actions (the Action menu of a list),
run over XML-RPC exactly as the web client runs them: each record under
the caller's rights and the stage matrix, runs queued (never work inline),
one notification saying what was queued and what was refused."""

import pytest

SLUG = "bulk-e2e"


def run_action(server, login, name, model, ids):
    """Run the server action ``name`` of ``model``'s Action menu on ``ids``, as ``login``."""
    rpc = server.rpc(login)
    # What the web client shows in the Action menu of the model's list.
    found = [a["id"] for a in rpc("ir.actions.actions", "get_bindings", model)["action"] if a["name"] == name]
    assert len(found) == 1, (name, model, found)
    result = rpc("ir.actions.server", "run", found,
                 context={"active_model": model, "active_ids": ids, "active_id": ids[0]})
    assert result["tag"] == "display_notification", result
    return result["params"]


@pytest.fixture(scope="module")
def project(server):
    manager = server.rpc("e2e_manager")
    # A remote repository nobody fetches: no worker runs for this project, its runs stay queued.
    project_id = manager("ops.project", "create", {"name": "Bulk E2E", "slug": SLUG,
                                                   "repo_url": "https://git.invalid/bulk.git"})
    member = manager("ops.project.member", "create", {"project_id": project_id, "user_id": server.uids["e2e_dev"],
                                                      "role": "developer"})
    envs = {branch: manager("ops.environment", "create", {"project_id": project_id, "branch": branch})
            for branch in ("feature/b1", "feature/b2", "feature/b3", "main")}
    yield {"id": project_id, "envs": envs}
    queued = manager("ops.run", "search", [("project_id", "=", project_id),
                                           ("state", "in", ("queued", "waiting_approval"))])
    if queued:
        manager("ops.run", "cancel_run", queued)
    manager("ops.project.member", "unlink", [member])


def runs(server, project, **where):
    domain = [("project_id", "=", project["id"])] + [(k, "=", v) for k, v in where.items()]
    return server.rpc("e2e_manager")("ops.run", "search_read", domain, ["environment_id", "kind", "state"])


def test_rebuild_three_development_environments_from_the_list(server, project):
    devs = [project["envs"]["feature/b%d" % i] for i in (1, 2, 3)]
    result = run_action(server, "e2e_dev", "Rebuild", "ops.environment",
                        devs)
    assert len(result["done"]) == 3 and not result["refused"], result
    queued = runs(server, project, kind="build", state="queued")
    assert sorted(r["environment_id"][0] for r in queued) == sorted(devs)


def test_a_developer_queues_what_the_matrix_allows_and_hears_what_was_refused(server, project):
    envs = project["envs"]
    before = len(runs(server, project, kind="build"))
    result = run_action(server, "e2e_dev", "Rebuild", "ops.environment",
                        [envs["feature/b1"], envs["feature/b2"], envs["main"]])
    assert len(result["done"]) == 2 and len(result["refused"]) == 1, result
    assert "main" in result["refused"][0] and "role: developer" in result["refused"][0], result
    assert "Refused 1" in result["message"]
    assert len(runs(server, project, kind="build")) == before + 2, "the refused one queued nothing"
    # Backups of development are the admins' (the matrix): refused, named.
    result = run_action(server, "e2e_dev", "Back up now", "ops.environment",
                        [envs["feature/b3"]])
    assert not result["done"] and "role: developer" in result["refused"][0], result


def test_destroy_from_a_list_is_for_development_only_and_runs_are_canceled_in_bulk(server, project):
    envs = project["envs"]
    result = run_action(server, "e2e_manager", "Destroy (development only)", "ops.environment",
                        [envs["feature/b3"], envs["main"]])
    assert len(result["done"]) == 1 and "only development" in result["refused"][0], result
    assert [r["environment_id"][0] for r in runs(server, project, kind="destroy")] == [envs["feature/b3"]]
    queued = [r["id"] for r in runs(server, project, state="queued")]
    result = run_action(server, "e2e_manager", "Cancel", "ops.run", queued)
    assert len(result["done"]) == len(queued) and not result["refused"], result
    assert not runs(server, project, state="queued")
    # Canceled runs cannot be canceled again: refused, each named.
    result = run_action(server, "e2e_manager", "Cancel", "ops.run", queued[:2])
    assert not result["done"] and len(result["refused"]) == 2 and "cannot be canceled" in result["refused"][0]

"""Build errors that name their cause, with real failures in real
containers: a test importing a name this Odoo does not have, a syntax error,
a failing assertion and a missing Python dependency each fail the build with
a one-line cause (exception, addon file); the same failure again joins its
group (ops.build.error), which the team can mark known."""

import pytest
from e2e import ADDON, docker_ready, git, make_addon_repo, remove_leftovers, run_worker

SLUG = "err-e2e"
# branch: (what the commit changes, words the run's error must say)
FAILURES = {
    "feature/import": ({"tests/test_e2e.py": "from odoo.tests.common import SETATTR_SOURCES  # noqa\n"},
                       ["ImportError: cannot import name 'SETATTR_SOURCES' from 'odoo.tests.common'",
                        "%s/tests/test_e2e.py:1" % ADDON]),
    "feature/syntax": ({"__init__.py": "from . import models\n", "models.py": "def broken(:\n    pass\n"},
                       ["SyntaxError", "%s/models.py:1" % ADDON]),
    "feature/assert": ({"tests/test_e2e.py": None},
                       ["TestE2E.test_partner_loaded failed: AssertionError: 'Built by ipai ops' != 'Something else'",
                        "%s/tests/test_e2e.py:" % ADDON]),
    "feature/dep": ({"__init__.py": "import ipai_ops_no_such_dependency  # noqa\n"},
                    ["ModuleNotFoundError: No module named 'ipai_ops_no_such_dependency'", "%s/__init__.py:1" % ADDON]),
}


@pytest.fixture(scope="module")
def project(server, tmp_path_factory):
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    root = tmp_path_factory.mktemp("errgit")
    # feature/assert is the helper's red branch (its test expects another name).
    url = make_addon_repo(root, branches=(), red_branch="feature/assert")
    work = root / "work"
    for branch, (files, _words) in FAILURES.items():
        if branch == "feature/assert":
            continue
        git("checkout", "-q", "main", cwd=work)
        git("checkout", "-q", "-b", branch, cwd=work)
        for path, text in files.items():
            (work / ADDON / path).write_text(text)
        git("add", "-A", cwd=work)
        git("commit", "-qm", "break it: %s" % branch, cwd=work)
        git("push", "-q", str(root / "e2e.git"), branch, cwd=work)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {"name": "Errors E2E", "slug": SLUG, "repo_url": url})
    yield {"id": project_id}
    remove_leftovers(SLUG)


FIELDS = ["state", "result", "error_message", "build_error_id", "environment_id"]


def build(server, branch):
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": branch})
    run_worker(server, projects=SLUG)
    return manager("ops.run", "read", [queued["id"]], FIELDS)[0]


def test_each_failure_names_its_cause_and_joins_its_group(server, project):
    manager = server.rpc("e2e_manager")
    # the four builds at once, as a worker takes them (its slots)
    queued = {branch: manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": branch})["id"]
              for branch in FAILURES}
    run_worker(server, projects=SLUG)
    runs = {branch: manager("ops.run", "read", [run_id], FIELDS)[0] for branch, run_id in queued.items()}
    for branch, (_files, words) in FAILURES.items():
        run = runs[branch]
        assert run["state"] == "failed", (branch, run)
        message = run["error_message"] or ""
        for word in words:
            assert word in message, (branch, message)
        assert len(message) < 600 and "see the log" not in message, (branch, message)
        assert run["build_error_id"], (branch, "grouped")
    groups = manager("ops.build.error", "search_read", [("project_id", "=", project["id"])],
                     ["name", "count", "addon", "exception", "state"])
    assert len(groups) == len(FAILURES), groups
    assert {g["addon"] for g in groups} == {ADDON}
    # The same failure again: the same group, counted twice, seen on both runs.
    again = build(server, "feature/assert")
    assert again["build_error_id"] == runs["feature/assert"]["build_error_id"], again
    group = manager("ops.build.error", "read", [again["build_error_id"][0]], ["count", "run_ids", "state"])[0]
    assert group["count"] == 2 and len(group["run_ids"]) == 2, group
    # Developers triage it; a viewer may not.
    manager("ops.project.member", "create", {"project_id": project["id"], "user_id": server.uids["e2e_dev"],
                                             "role": "developer"})
    server.rpc("e2e_dev")("ops.build.error", "action_mark_known", [group["id"]])
    assert manager("ops.build.error", "read", [group["id"]], ["state"])[0]["state"] == "known"
    with pytest.raises(Exception, match="kept by the platform"):
        server.rpc("e2e_dev")("ops.build.error", "write", [group["id"]], {"count": 0})
    # The environment's card says why it is red.
    env = manager("ops.environment", "read", [again["environment_id"][0]], ["last_result", "last_error"])[0]
    assert env["last_result"] == "failed" and "AssertionError" in env["last_error"], env


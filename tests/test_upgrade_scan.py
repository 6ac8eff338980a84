"""The upgrade scan for real: a 17.0 project's addons scanned for 18.0 by
the worker (Odoo 18's upgrade_code in its runtime image, odoo-module-migrator,
the advisories, the dependency check against OpenUpgrade's apriori and a
package index), the patch applied to the commit and compiled, the upgrade
branch pushed; an 18.0 addon scanned for 19.0. The package index is a local
stand-in for PyPI (a remote service), everything else is real."""

import json
import os
import subprocess

import pytest
from e2e import docker_ready, ops, remove_leftovers, run_worker
from package_index import package_index as local_package_index
from upgrade_fixture import ADDON_17, ADDON_18, ADDON_DEPS, make_upgrade_repo

SLUG17, SLUG18 = "upg-e2e", "upg18-e2e"
# What the stand-in index knows: web_responsive has an 18.0 release, nothing else does.
RELEASES = {"odoo-addon-web-responsive": {"releases": {"17.0.1.0.0": [], "18.0.1.0.2": []}}}


@pytest.fixture(scope="module")
def package_index(server):
    with local_package_index(server, RELEASES) as url:
        yield url


@pytest.fixture(scope="module")
def upgrade_projects(server, tmp_path_factory, package_index):
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    url, bare = make_upgrade_repo(tmp_path_factory.mktemp("upgrade"))
    manager = server.rpc("e2e_manager")
    ids = {}
    for slug, version, branch in ((SLUG17, "17.0", "main"), (SLUG18, "18.0", "odoo-18")):
        remove_leftovers(slug)
        ids[slug] = manager("ops.project", "create", {
            "name": slug, "slug": slug, "repo_url": url, "odoo_version": version, "default_branch": branch,
            "member_ids": [(0, 0, {"user_id": server.uids["e2e_dev"], "role": "developer"}),
                           (0, 0, {"user_id": server.uids["e2e_viewer"], "role": "viewer"})]})
    yield {"ids": ids, "url": url, "bare": str(bare)}
    # The shared users leave these projects (other tests count what they see).
    manager("ops.project.member", "unlink", manager("ops.project.member", "search",
                                                    [("project_id", "in", list(ids.values()))]))
    for slug in (SLUG17, SLUG18):
        remove_leftovers(slug)


def _scan(server, project_id, login="e2e_dev", **kwargs):
    client = server.rpc(login)
    queued = client("ops.project", "upgrade_scan", [project_id], kwargs.get("to", False),
                    kwargs.get("push", False))
    run_worker(server, projects=",".join((SLUG17, SLUG18)))
    run = server.rpc("e2e_manager")("ops.run", "read", [queued["id"]], ["state", "error_message", "commit_sha"])[0]
    logs = server.rpc("e2e_manager")("ops.run.log", "search_read", [("run_id", "=", queued["id"])],
                                     fields=["message"])
    assert run["state"] == "succeeded", (run["error_message"], "\n".join(line["message"] for line in logs)[-4000:])
    return queued["id"], run


def _git(*args, cwd):
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def test_scan_17_to_18_finds_fixes_and_checks(server, upgrade_projects, ops_bin, tmp_path):
    project_id = upgrade_projects["ids"][SLUG17]
    # A viewer may read the report, not scan.
    with pytest.raises(Exception, match="not allowed|may not|AccessError"):
        server.rpc("e2e_viewer")("ops.project", "upgrade_scan", [project_id], "18.0", False)
    run_id, run = _scan(server, project_id, to="18.0", push=True)
    report = server.rpc("e2e_viewer")("ops.project", "upgrade_report", [project_id], "18.0", 500)
    assert report["scan"]["id"] == run_id and report["from_version"] == "17.0"
    found = {(f["advisory"], f["file"]) for f in report["findings"] if f["source"] == "advisory"}
    model = "%s/models/acme_order.py" % ADDON_17
    for advisory, path in (("tree_to_list", "%s/views/acme_views.xml" % ADDON_17), ("group_operator", model),
                           ("name_search_signature", model), ("check_access_rights", model), ("ustr", model),
                           ("cron_numbercall", "%s/data/acme_cron.xml" % ADDON_17)):
        assert (advisory, path) in found, (advisory, sorted(found))
    by_code = {f["advisory"]: f for f in report["findings"] if f["source"] == "advisory"}
    assert by_code["tree_to_list"]["autofix"] is True, "upgrade_code rewrote the view"
    assert by_code["name_search_signature"]["autofix"] is False and by_code["name_search_signature"]["line"] > 0
    # The tool's rewrite is checked: odoo-module-migrator drops ustr's import and leaves the call.
    checks = [f for f in report["findings"] if f["source"] == "check"]
    assert any("ustr" in f["message"] and f["file"] == model for f in checks), checks
    assert report["report"]["patch"]["compiles"] is False
    # ... and its version bump swallowed the manifest's next key: reported, not trusted.
    assert any(f["message"] == "After the rewrite: the manifest lost license; put it back"
               and f["file"] == "%s/__manifest__.py" % ADDON_17 for f in checks), checks

    # Dependencies, before any copy: core, merged by OpenUpgrade, an OCA release, and one that blocks.
    deps = {row["module"]: row["status"] for row in report["report"]["dependencies"]}
    assert deps["sale_management"] == deps["stock"] == "core"
    assert deps["account_payment_term"] == "merged" and deps["web_responsive"] == "released"
    assert deps[ADDON_17] == "own"
    assert [row["module"] for row in report["report"]["blocking"]] == ["acme_unported_oca"]
    assert report["report"]["blocking"][0]["addons"] == [ADDON_DEPS]

    # The patch applies to the scanned commit; the result compiles and has no <tree> left.
    artifact = server.rpc("e2e_manager")("ops.run.artifact", "search_read", [("run_id", "=", run_id),
                                                                             ("key", "=", "patch")],
                                         fields=["location", "size"])[0]
    checkout = tmp_path / "checkout"
    _git("clone", "-q", upgrade_projects["url"], str(checkout), cwd=tmp_path)
    _git("checkout", "-q", run["commit_sha"], cwd=checkout)
    _git("apply", "--check", artifact["location"], cwd=checkout)
    _git("apply", artifact["location"], cwd=checkout)
    views = (checkout / ADDON_17 / "views" / "acme_views.xml").read_text()
    assert "<list>" in views and "<tree" not in views and "list,form" in views
    for path in checkout.glob("*/**/*.py"):
        compile(path.read_text(), str(path), "exec")

    # The branch upgrade/18.0 holds the same rewrite on top of the scanned commit; main is untouched.
    heads = _git("ls-remote", upgrade_projects["url"], cwd=tmp_path)
    branches = dict(line.split("\t")[::-1] for line in heads.splitlines())
    assert branches["refs/heads/main"] == run["commit_sha"]
    upgraded = branches["refs/heads/upgrade/18.0"]
    assert _git("rev-parse", "%s^" % upgraded, cwd=upgrade_projects["bare"]).strip() == run["commit_sha"]
    shown = _git("show", "%s:%s/views/acme_views.xml" % (upgraded, ADDON_17), cwd=upgrade_projects["bare"])
    assert shown == views

    # The unported dependency stops a preview before anything is copied.
    with pytest.raises(Exception, match="acme_unported_oca.*no release for the target series"):
        server.rpc("e2e_manager")("ops.project", "upgrade_preview", [project_id], "18.0")
    assert not server.rpc("e2e_manager")("ops.environment", "search", [("project_id", "=", project_id)])

    # The CLI reads the same report.
    proc = ops(ops_bin, server, "e2e_dev", "upgrade", "report", SLUG17, "--to", "18.0", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["scan"]["id"] == run_id
    proc = ops(ops_bin, server, "e2e_dev", "upgrade", "report", SLUG17)
    assert "BLOCKING: acme_unported_oca" in proc.stdout and "name_search_signature" in proc.stdout


def test_scan_18_to_19(server, upgrade_projects, tmp_path, ops_bin):
    project_id = upgrade_projects["ids"][SLUG18]
    proc = ops(ops_bin, server, "e2e_dev", "upgrade", "scan", SLUG18, "--json")
    assert proc.returncode == 0, proc.stderr
    run_worker(server, projects=SLUG18)
    report = server.rpc("e2e_dev")("ops.project", "upgrade_report", [project_id], False, 500)
    assert report["to_version"] == "19.0" and report["scan"]["state"] == "succeeded", report["scan"]
    by_code = {f["advisory"]: f for f in report["findings"] if f["source"] == "advisory"}
    assert by_code["sql_constraints"]["file"] == "%s/models/acme_thing.py" % ADDON_18
    assert by_code["route_json"]["file"] == "%s/controllers/main.py" % ADDON_18
    assert by_code["sql_constraints"]["autofix"] and by_code["route_json"]["autofix"]
    assert by_code["cr_uid_context"]["autofix"]
    assert report["report"]["patch"]["compiles"] is True and not report["report"]["blocking"]
    artifact = server.rpc("e2e_manager")("ops.run.artifact", "search_read", [("run_id", "=", report["scan"]["id"]),
                                                                             ("key", "=", "patch")],
                                         fields=["location"])[0]
    with open(artifact["location"]) as fh:
        patch = fh.read()
    assert "models.Constraint(" in patch and 'type="jsonrpc"' in patch and "self.env.cr.execute" in patch
    assert not os.path.exists(os.path.join(upgrade_projects["bare"], "refs", "heads", "upgrade", "19.0"))

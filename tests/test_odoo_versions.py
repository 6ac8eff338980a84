"""Projects on Odoo 17.0 and 19.0: their environments are built on that
version's runtime image (built offline from the pinned source tree when a
host lacks it), and the environment says which Odoo and which source commit
it runs.

A small addon, written for each version (17.0: a <tree> view; 19.0: a
<list> view and a models.Constraint) and depending on an OCA module shipped
as its PyPI wheel in the repository (requirements.txt, --no-index), gets a
development build on a project of that version, executed by the real
worker; the environment answers, its own Odoo reports the version, and the
addon and the OCA module are installed at their versions.
"""

import os
import xmlrpc.client

import pytest
import requests
from e2e import docker_ready, env_secret, git, remove_leftovers, run_worker
from upgrade_fixture import vendor_oca_wheel

SLUGS = {"17.0": "v17-e2e", "19.0": "v19-e2e"}
ADDON = "ops_version_probe"

VIEWS = {
    # 17.0 still has <tree>; 19.0 only <list>
    "17.0": '<tree><field name="name"/></tree>',
    "19.0": '<list><field name="name"/></list>',
}
MODELS = {
    "17.0": '''from odoo import fields, models


class Probe(models.Model):
    _name = "ops.version.probe"
    _description = "Probe"
    name = fields.Char(required=True)
    _sql_constraints = [("name_uniq", "unique(name)", "Unique name")]
''',
    "19.0": '''from odoo import fields, models


class Probe(models.Model):
    _name = "ops.version.probe"
    _description = "Probe"
    name = fields.Char(required=True)
    _name_uniq = models.Constraint("unique(name)", "Unique name")
''',
}


def _source_commit(version):
    """The commit the version's tree was exported from (scripts/odoo-source.sh)."""
    root = os.path.dirname(os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0"))
    with open(os.path.join(root, "odoo-%s" % version, ".ipai-ops-source")) as fh:
        return dict(line.strip().split("=", 1) for line in fh if "=" in line)["commit"]


@pytest.fixture(scope="module")
def version_repo(tmp_path_factory):
    """A repository with one branch per version, each holding the probe addon written for it."""
    root = tmp_path_factory.mktemp("versions")
    work = root / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "README").write_text("versions\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "init", cwd=work)
    for version in SLUGS:
        git("checkout", "-q", "-b", "odoo-%s" % version, "main", cwd=work)
        addon = work / ADDON
        (addon / "views").mkdir(parents=True, exist_ok=True)
        (addon / "models").mkdir(exist_ok=True)
        (addon / "security").mkdir(exist_ok=True)
        (addon / "__init__.py").write_text("from . import models\n")
        (addon / "models" / "__init__.py").write_text("from . import probe\n")
        (addon / "models" / "probe.py").write_text(MODELS[version])
        (addon / "__manifest__.py").write_text(
            '{"name": "Version probe", "version": "%s.1.0.3", "depends": ["base", "date_range"], "license": "LGPL-3",'
            ' "data": ["security/ir.model.access.csv", "views/probe.xml"]}\n' % version)
        vendor_oca_wheel(work, version)  # the OCA module as its wheel, inside the repository
        (addon / "security" / "ir.model.access.csv").write_text(
            "id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink\n"
            "access_probe,probe,model_ops_version_probe,base.group_user,1,1,1,1\n")
        (addon / "views" / "probe.xml").write_text(
            '<odoo><record id="probe_list" model="ir.ui.view"><field name="model">ops.version.probe</field>'
            '<field name="arch" type="xml">%s</field></record></odoo>\n' % VIEWS[version])
        git("add", "-A", cwd=work)
        git("commit", "-qm", "probe for %s" % version, cwd=work)
    git("checkout", "-q", "main", cwd=work)
    return "file://%s" % work


@pytest.fixture(scope="module")
def version_projects(server, version_repo):
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    for slug in SLUGS.values():
        remove_leftovers(slug)
    manager = server.rpc("e2e_manager")
    ids = {}
    for version, slug in SLUGS.items():
        ids[version] = manager("ops.project", "create", {
            "name": "Odoo %s E2E" % version, "slug": slug, "repo_url": version_repo, "odoo_version": version,
            "mem_limit_mb": 1536, "cpu_limit": 1.0})
    yield ids
    for slug in SLUGS.values():
        remove_leftovers(slug)


@pytest.fixture(scope="module")
def version_builds(server, version_projects):
    """A development build of each version's branch, both in one pass of the
    worker (its slots run them at once); {version: the queued run}."""
    manager = server.rpc("e2e_manager")
    queued = {version: manager("ops.run", "queue_run", {"project": slug, "kind": "build",
                                                         "branch": "odoo-%s" % version})
              for version, slug in SLUGS.items()}
    run_worker(server, projects=",".join(SLUGS.values()))
    return queued


@pytest.mark.parametrize("version", sorted(SLUGS))
def test_development_build_on_version(server, version_projects, version_builds, version):
    manager = server.rpc("e2e_manager")
    project = manager("ops.project", "read", [version_projects[version]], ["odoo_version", "tool_id"])[0]
    assert project["odoo_version"] == version
    assert project["tool_id"][1] == "Odoo %s" % version, "the project builds on its version's runtime tool"
    queued = version_builds[version]
    run = manager("ops.run", "api_read", [queued["id"]])
    logs = manager("ops.run.log", "search_read", [("run_id", "=", queued["id"])], fields=["message"])
    text = "\n".join(line["message"] for line in logs)
    assert run["state"] == "succeeded", (run["error_message"], text[-4000:])
    commit = _source_commit(version)
    assert "Runtime: Odoo %s (source commit %s)" % (version, commit[:12]) in text
    env = manager("ops.environment", "read", [queued["environment_id"]],
                  ["stage", "state", "url", "database_name", "odoo_version_running", "odoo_commit"])[0]
    password = env_secret(server, queued["environment_id"], "admin_password")
    assert (env["stage"], env["state"]) == ("development", "running")
    assert (env["odoo_version_running"], env["odoo_commit"]) == (version, commit), "shown on the environment"
    # The environment's own Odoo says which version it is and has the addon at its manifest's version.
    common = xmlrpc.client.ServerProxy(env["url"] + "/xmlrpc/2/common")
    assert common.version()["server_serie"] == version
    assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
    uid = common.authenticate(env["database_name"], "admin", password, {})
    assert uid, "the environment's administrator logs in"
    models = xmlrpc.client.ServerProxy(env["url"] + "/xmlrpc/2/object")
    module = models.execute_kw(env["database_name"], uid, password, "ir.module.module", "search_read",
                               [[("name", "=", ADDON)]], {"fields": ["state", "latest_version"]})
    assert module and module[0]["state"] == "installed"
    assert module[0]["latest_version"] == "%s.1.0.3" % version
    # The OCA module, from its wheel (pip takes Odoo as installed: the runtime image registers it)
    oca = models.execute_kw(env["database_name"], uid, password, "ir.module.module", "search_read",
                            [[("name", "=", "date_range")]], {"fields": ["state", "latest_version"]})
    assert oca and oca[0]["state"] == "installed" and oca[0]["latest_version"].startswith(version + "."), oca
    # demo data is there (19.0 needs --with-demo for it): base's demo user
    demo = models.execute_kw(env["database_name"], uid, password, "ir.model.data", "search_count",
                             [[("module", "=", "base"), ("name", "=", "user_demo")]])
    assert demo == 1, "the development build has demo data"
    # Connect lands in the backend, logged in as the administrator (/web: 17.0 has no /odoo; 18.0 is checked
    # by tests/test_connect.py).
    link = manager("ops.environment", "connect", [env["id"]])
    browser = requests.Session()
    landed = browser.get(link["url"], timeout=60)
    assert landed.status_code == 200 and "/web/login" not in landed.url, (landed.url, landed.status_code)
    info = browser.post(env["url"] + "/web/session/get_session_info", json={
        "jsonrpc": "2.0", "method": "call", "id": 1, "params": {}}, timeout=30).json()["result"]
    assert info["uid"] == uid and info["db"] == env["database_name"], info

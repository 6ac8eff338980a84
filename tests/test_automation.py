"""The server actions in Odoo's own automation rules (base_automation,
installed by the test setup the way a user installs the Automation Rules
app): "when a staging build succeeds, back up production" fires from a
real staging build of the shared production's project."""

import subprocess
from urllib.parse import urlparse

from conftest import PROD_SLUG
from e2e import git, run_worker, shell

RULE = r"""
Run = env["ops.run"]
action = env["ir.actions.server"].create({
    "name": "e2e: back up production", "model_id": env.ref("ipai_ops_core.model_ops_run").id, "state": "code",
    "code": "action = env['ops.environment'].search([('project_id', '=', record.project_id.id), "
            "('stage', '=', 'production'), ('state', '=', 'running')]).action_bulk_backup()",
})
rule = env["base.automation"].create({
    "name": "e2e: when a staging build succeeds, back up production",
    "model_id": env.ref("ipai_ops_core.model_ops_run").id, "trigger": "on_create_or_write",
    "trigger_field_ids": [(6, 0, [env.ref("ipai_ops_core.field_ops_run__state").id])],
    "filter_domain": "[('kind', '=', 'build'), ('environment_id.stage', '=', 'staging'), "
                     "('state', '=', 'succeeded'), ('project_id.slug', '=', 'PROJECT_SLUG')]",
    "action_server_ids": [(6, 0, action.ids)],
})
env.cr.commit()
print("RULE", rule.id)
"""


def test_a_staging_build_that_succeeds_backs_up_production(server, prod, tmp_path):
    manager = server.rpc("e2e_manager")
    repo = manager("ops.project", "read", [prod["project_id"][0]], ["repo_url"])[0]["repo_url"]
    work = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", urlparse(repo).path, str(work)], check=True)
    git("push", "-q", "origin", "main:release/auto", cwd=work)
    out = shell(server, RULE.replace("PROJECT_SLUG", PROD_SLUG))
    assert "RULE" in out, out
    before = manager("ops.run", "search", [("project_id.slug", "=", PROD_SLUG), ("kind", "=", "backup")])
    queued = manager("ops.run", "queue_run", {"project": PROD_SLUG, "kind": "build", "branch": "release/auto"})
    run_worker(server, projects=PROD_SLUG)
    build = manager("ops.run", "api_read", [queued["id"]])
    assert build["state"] == "succeeded", build["error_message"]
    backups = manager("ops.run", "search_read", [("project_id.slug", "=", PROD_SLUG), ("kind", "=", "backup"),
                                                 ("id", "not in", before)], ["environment_id", "state"])
    try:
        assert [b["environment_id"][0] for b in backups] == [prod["id"]], backups
    finally:
        pending = [b["id"] for b in backups if b["state"] in ("queued", "waiting_approval")]
        if pending:
            manager("ops.run", "cancel_run", pending)

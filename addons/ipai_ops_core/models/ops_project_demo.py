from odoo import api, models

from ..services import demo_repo


class OpsProject(models.Model):
    """The demo, made by really running the platform: real repositories,
    runs queued, approved and canceled by the demo users through the run
    API. Nothing here writes a state, a URL or a digest: the cron (or a
    worker) builds the queued runs for real, and what the environments show
    is what those builds did."""

    _inherit = "ops.project"

    @api.model
    def _ops_demo_populate(self, project_ids):
        ref = self.env.ref
        admin, ada, dev, tess = (ref("base.user_admin"), ref("ipai_ops_core.demo_user_ada"), ref("base.user_demo"),
                                 ref("ipai_ops_core.demo_user_tess"))
        root = self.env["ops.run"]._ops_settings()["demo_root"]
        acme, globex = self.browse(project_ids)
        for project, module, title, partner, failing in (
                (acme, "acme_sale", "Acme sales", "Acme Corporation", ("feature/stock-report",)),
                (globex, "globex_website", "Globex website", "Globex Corporation", ())):
            bare = demo_repo.make(root, project.slug, module, title, partner, project.environment_ids.mapped("branch"),
                                  default_branch=project.default_branch, failing_branches=failing)
            # sudo: demo data; the demo's own directory is an allowed local repository root
            project.sudo().repo_url = "file://%s" % bare

        def queue(user, branch, kind="build", **extra):
            return self.env["ops.run"].with_user(user).queue_run(dict({
                "project_id": acme.id, "branch": branch, "kind": kind}, **extra))

        # Production: deployed once an admin approves (the project asks for it).
        first = queue(ada, "main", "deploy")
        self.env["ops.run"].with_user(admin).browse(first["id"]).approve_run()
        # Staging by the tester, the feature branches by the developer (one
        # of them with a failing test: its build turns red for real).
        queue(tess, "release/2.1", priority=5)
        for branch in ("feature/invoice-layout", "feature/stock-report"):
            queue(dev, branch, priority=1)
        superseded = queue(dev, "fix/tax-rounding", priority=1)
        self.env["ops.run"].with_user(dev).browse(superseded["id"]).cancel_run("Superseded by a newer commit")
        queue(dev, "fix/tax-rounding", priority=1, idempotency_key="demo-second-push")
        # A second production deploy, waiting for an admin.
        queue(ada, "main", "deploy", idempotency_key="demo-waiting-approval")
        return True

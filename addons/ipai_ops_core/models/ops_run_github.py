"""Commit statuses: a run with a commit posts its state to the git host."""

import logging

from odoo import models

from ..services import github

_logger = logging.getLogger(__name__)

class OpsRun(models.Model):
    _inherit = "ops.run"

    def _ops_commit_status_after_commit(self):
        """Post the run's state as a commit status once the transaction
        commits (never from inside it: the HTTP call could outlive a rollback)."""
        # sudo: the project's GitHub token, used server-side only, never returned
        run = self.sudo()
        token = run.project_id.github_token
        state = github.STATES.get(run.state)
        if not (token and state and run.commit_sha and len(run.commit_sha) == 40 and run.environment_id):
            return
        repository = github.repository_of(run.project_id.repo_url)
        if not repository:
            return
        # sudo: configuration parameters are readable by system users only
        api_url = self.env["ir.config_parameter"].sudo().get_param("ipai_ops.github_api_url") or \
            "https://api.github.com"
        args = (api_url, token, repository, run.commit_sha, state, "ipai-ops/%s" % run.environment_id.stage,
                "%s %s: %s" % (run.display_name, run.kind, run.state), run.environment_id.url or None)

        def post():
            try:
                github.post_status(*args)
            except Exception as exc:  # noqa: BLE001 - a status is informative; never fail a run for it
                _logger.warning("ops: commit status for %s not posted: %s", args[3][:12], exc)

        self.env.cr.postcommit.add(post)

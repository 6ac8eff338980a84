"""What an approver reads before letting a production build or deploy go:
the exact commit (pinned: what is approved is what runs), its message and
author, the modules it changes against what production runs now, and a
link to the diff where the repository has a web view."""

import re

from odoo import _, fields, models

from ..services import git_repo

GIT_TIMEOUT = 60  # seconds: the approval request waits for the repository this long at most
_GITHUB_RE = re.compile(r"^(?:https://github\.com/|git@github\.com:)(?P<repo>[\w.-]+/[\w.-]+?)(?:\.git)?/?$")


class OpsRun(models.Model):
    _inherit = "ops.run"

    approval_summary = fields.Text("What is approved", readonly=True, copy=False,
                                   help="The commit, its message, the modules it changes against production and "
                                        "the diff, read from the repository when the run was queued.")
    approval_modules = fields.Char("Modules changed", readonly=True, copy=False)
    diff_url = fields.Char("Diff", readonly=True, copy=False)
    may_approve = fields.Boolean(compute="_compute_may_approve",
                                 help="This user may approve or reject the run (the stage matrix's approve).")

    def _compute_may_approve(self):
        for run in self:
            run.may_approve = run.environment_id.may_approve

    def _ops_prepare_approval(self):
        """Fill in what the approver reads; pin the commit. A repository out of
        reach says so in the summary and queues nothing less."""
        self.ensure_one()
        # sudo: the platform reads the project's repository for the run it just queued
        run = self.sudo()
        project, env = run.project_id, run.environment_id
        cache = self.env["ops.run"]._ops_settings()["git_cache"]
        try:
            sha = run.commit_sha or git_repo.resolve(project.repo_url, run.ref or env.branch, cache, GIT_TIMEOUT)
            info = git_repo.commit_info(project.repo_url, sha, cache, GIT_TIMEOUT)
            current = env._ops_running_run().commit_sha
            changed = git_repo.changed_paths(project.repo_url, current or None, sha, cache, GIT_TIMEOUT)
            addons = set(git_repo.addons_of(project.repo_url, sha, cache, GIT_TIMEOUT))
            if current:
                addons |= set(git_repo.addons_of(project.repo_url, current, cache, GIT_TIMEOUT))  # removed ones too
        except (git_repo.GitError, ValueError) as exc:
            run.approval_summary = _("Could not read the commit to approve: %s", exc)
            return
        modules = sorted({path.split("/")[0] for path in changed} & addons)
        others = len([path for path in changed if path.split("/")[0] not in addons])
        match = _GITHUB_RE.match(project.repo_url)
        lines = [_("%(subject)s (commit %(sha)s by %(author)s, %(date)s)", subject=info["subject"], sha=sha[:12],
                   author=info["author"], date=info["date"])]
        if current:
            lines.append(_("Production runs %(current)s now. Changed since: %(modules)s%(others)s.",
                           current=current[:12], modules=", ".join(modules) or _("no module"),
                           others=_(" and %d other file(s)", others) if others else ""))
        else:
            lines.append(_("Production has run no build yet: every module is new (%s).",
                           ", ".join(modules) or _("none")))
        run.write({
            "commit_sha": sha, "approval_summary": "\n".join(lines), "approval_modules": ", ".join(modules) or False,
            "diff_url": ("https://github.com/%s/compare/%s...%s" % (match["repo"], current, sha)
                         if match and current else False),
        })

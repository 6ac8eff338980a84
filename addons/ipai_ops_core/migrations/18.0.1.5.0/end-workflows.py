"""18.0.1.5.0: ops.workflow goes. Its records (a name, a kind, a ref and a
JSON configuration per project) were shown and edited but never read by
anything that runs: what a build runs is the project's module and test
settings. Before Odoo drops the table, each project's chatter keeps what
its workflows said, so nothing typed there is lost; then the table goes
(Odoo forgets a removed model but keeps its table)."""

import json

from markupsafe import Markup
from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    if not version:
        return
    cr.execute("SELECT to_regclass('ops_workflow')")
    if not cr.fetchone()[0]:
        return
    cr.execute("SELECT project_id, name, kind, git_ref, configuration, active FROM ops_workflow "
               "ORDER BY project_id, id")
    by_project = {}
    for project_id, name, kind, ref, configuration, active in cr.fetchall():
        by_project.setdefault(project_id, []).append(Markup("<li>%s (%s%s%s): <code>%s</code></li>") % (
            name, kind, ", ref %s" % ref if ref else "", "" if active else ", archived",
            json.dumps(configuration or {}, sort_keys=True)))
    env = api.Environment(cr, SUPERUSER_ID, {})
    for project in env["ops.project"].browse(list(by_project)).exists():
        project.message_post(body=Markup(
            "<p>Workflows are gone in this version (they were never run). What this project's said:</p><ul>%s</ul>"
        ) % Markup("").join(by_project[project.id]))
    cr.execute("DROP TABLE ops_workflow CASCADE")  # the constraint of ops_run.workflow_id with it

from odoo import fields, models

from .ops_upgrade_advisory import SEVERITIES

SOURCES = [("advisory", "Advisory"), ("migrator", "odoo-module-migrator"), ("check", "Compile and lint"),
           ("dependency", "Dependency"), ("coverage", "OpenUpgrade coverage")]


class OpsUpgradeFinding(models.Model):
    """One thing a project's addons need before the target Odoo version, found
    by an upgrade scan (a run of kind upgrade_scan): where, what, how bad, and
    whether the scan's tools fix it automatically."""

    _name = "ops.upgrade.finding"
    _description = "Ops upgrade finding"
    _order = "run_id desc, severity_rank desc, addon, file, line"
    _rec_name = "message"

    run_id = fields.Many2one("ops.run", required=True, ondelete="cascade", index=True, readonly=True)
    project_id = fields.Many2one(related="run_id.project_id", store=True, index=True)
    to_version = fields.Char("To version", readonly=True, required=True)
    addon = fields.Char(readonly=True, index=True)
    file = fields.Char(readonly=True)
    line = fields.Integer(readonly=True)
    advisory_id = fields.Many2one("ops.upgrade.advisory", readonly=True, ondelete="set null")
    source = fields.Selection(SOURCES, required=True, default="advisory", readonly=True)
    severity = fields.Selection(SEVERITIES, required=True, readonly=True)
    severity_rank = fields.Integer("Severity rank", readonly=True, help="0 info, 1 warning, 2 breaking (for sorting).")
    autofix = fields.Boolean("Fixed automatically", readonly=True,
                             help="A tool of the scan rewrote this file for it (see the patch).")
    message = fields.Char(readonly=True, required=True)
    snippet = fields.Char(readonly=True)
    migration_guide = fields.Text(related="advisory_id.migration_guide")

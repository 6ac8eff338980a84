from odoo import fields, models

SEVERITIES = [("info", "Info"), ("warning", "Warning"), ("breaking", "Breaking")]


class OpsUpgradeAdvisory(models.Model):
    """What changes between two Odoo versions (for the upgrade advisor)."""

    _name = "ops.upgrade.advisory"
    _description = "Ops upgrade advisory"
    _order = "to_version desc, severity desc, title"

    from_version = fields.Char(required=True)
    to_version = fields.Char(required=True)
    module = fields.Char(help="Technical name of the module concerned; empty for the framework.")
    severity = fields.Selection(SEVERITIES, required=True, default="info")
    title = fields.Char(required=True)
    description = fields.Text()
    migration_guide = fields.Text(help="What to change in a custom module, step by step.")

    _sql_constraints = [
        ("version_title_uniq", "unique(from_version, to_version, title)",
         "An advisory with this title already exists for these versions."),
    ]

import re

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

SEVERITIES = [("info", "Info"), ("warning", "Warning"), ("breaking", "Breaking")]
SEVERITY_RANK = {"info": 0, "warning": 1, "breaking": 2}
FIXED_BY = [("none", "Nobody: by hand"), ("upgrade_code", "Odoo's upgrade_code"),
            ("migrator", "odoo-module-migrator"), ("both", "upgrade_code and odoo-module-migrator")]


class OpsUpgradeAdvisory(models.Model):
    """What changes between two Odoo versions for a customer's code: the
    upgrade scan matches ``pattern`` line by line in the project's addons and
    records a finding per match (ops.upgrade.finding)."""

    _name = "ops.upgrade.advisory"
    _description = "Ops upgrade advisory"
    _order = "to_version desc, severity desc, title"

    code = fields.Char(help="Stable key of the advisory (findings and reports name it).")
    from_version = fields.Char("From version", required=True)
    to_version = fields.Char("To version", required=True)
    module = fields.Char(help="Technical name of the module concerned; empty for the framework.")
    severity = fields.Selection(SEVERITIES, required=True, default="info")
    title = fields.Char(required=True)
    description = fields.Text()
    migration_guide = fields.Text("Migration guide", help="What to change in a custom module, step by step.")
    pattern = fields.Char(help="Python regular expression matched against each line of the addons' files.")
    file_types = fields.Selection(
        [("py", "Python"), ("xml", "XML"), ("js", "JavaScript"), ("csv", "CSV"), ("any", "Python, XML and JS")],
        "File types", default="py", required=True)
    fixed_by = fields.Selection(FIXED_BY, "Fixed by", default="none", required=True,
                                help="The tool of the scan that rewrites it automatically, if any.")
    finding_count = fields.Integer("Number of findings", compute="_compute_finding_count")

    _sql_constraints = [
        ("version_title_uniq", "unique(from_version, to_version, title)",
         "An advisory with this title already exists for these versions."),
        ("code_uniq", "unique(code)", "An advisory with this code already exists."),
    ]

    @api.constrains("pattern")
    def _check_pattern(self):
        for advisory in self.filtered("pattern"):
            try:
                re.compile(advisory.pattern)
            except re.error as exc:
                raise ValidationError(_("The pattern of %(title)s is not a valid regular expression: %(error)s",
                                        title=advisory.title, error=exc)) from exc

    def _compute_finding_count(self):
        counts = dict(self.env["ops.upgrade.finding"]._read_group(
            [("advisory_id", "in", self.ids)], ["advisory_id"], ["__count"]))
        for advisory in self:
            advisory.finding_count = counts.get(advisory, 0)

    @api.model
    def _ops_for_step(self, from_version, to_version):
        """The advisories a scan from ``from_version`` to ``to_version`` (one
        major step) applies, as plain values."""
        advisories = self.search([("from_version", "=", from_version), ("to_version", "=", to_version)])
        return [{"id": a.id, "code": a.code, "pattern": a.pattern, "file_types": a.file_types,
                 "fixed_by": a.fixed_by, "severity": a.severity} for a in advisories]

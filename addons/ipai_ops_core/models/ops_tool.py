from odoo import fields, models

from ..services.jsonutil import json_text, parse_json_text
from .ops_project import validated


class OpsTool(models.Model):
    """A runtime image that projects build on (official odoo:18.0 layout)."""

    _name = "ops.tool"
    _description = "Ops runtime tool"
    _order = "name, version desc"

    name = fields.Char(required=True)
    version = fields.Char(required=True)
    image = fields.Char(
        "Docker image", required=True, help="Image reference, e.g. odoo:18.0 or ipai-ops/odoo:18.0"
    )
    configuration = fields.Json(help="Free-form settings (build arguments, environment, ...)")
    configuration_text = fields.Text(
        "Configuration (JSON)", compute="_compute_configuration_text", inverse="_inverse_configuration_text"
    )
    active = fields.Boolean(default=True)
    project_count = fields.Integer(compute="_compute_project_count")

    _sql_constraints = [
        ("name_version_uniq", "unique(name, version)", "A tool with this name and version already exists."),
    ]

    def _compute_display_name(self):
        for tool in self:
            tool.display_name = "%s %s" % (tool.name, tool.version)

    def _compute_configuration_text(self):
        for tool in self:
            tool.configuration_text = json_text(tool.configuration)

    def _inverse_configuration_text(self):
        for tool in self:
            tool.configuration = validated(parse_json_text, tool.configuration_text)

    def _compute_project_count(self):
        counts = dict(
            self.env["ops.project"]._read_group([("tool_id", "in", self.ids)], ["tool_id"], ["__count"])
        )
        for tool in self:
            tool.project_count = counts.get(tool, 0)

import os

import odoo
from odoo import api, fields, models

from ..services import odoo_versions
from ..services.jsonutil import json_text, parse_json_text
from .ops_project import validated


class OpsTool(models.Model):
    """A runtime image that projects build on (official odoo image layout),
    one per Odoo version. When its image is missing on a host, the first run
    that needs it builds it offline from the version's source tree
    (executors/runtime_image.py); ``configuration.odoo_source`` overrides
    where that tree is."""

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
    project_count = fields.Integer("Number of projects", compute="_compute_project_count")

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

    @api.model
    def _ops_for_version(self, version):
        """The platform's runtime tool for Odoo ``version`` (the shipped one first)."""
        shipped = self.env.ref("ipai_ops_core.ops_tool_odoo_%s" % version.split(".")[0], raise_if_not_found=False)
        return shipped if shipped and shipped.active else self.search([("version", "=", version)], limit=1)

    @api.model
    def _ops_openupgrade_dir(self):
        """Where OpenUpgrade's wheels are (setup.sh downloads the pinned ones):
        ``ipai_ops.openupgrade_dir``, else ``openupgrade`` next to the Odoo trees."""
        # sudo: where the Odoo trees are is the platform's setting, read for a claimed run
        param = self.env["ir.config_parameter"].sudo().get_param
        return param("ipai_ops.openupgrade_dir") or os.path.join(
            odoo_versions.sources_root(param("ipai_ops.odoo_sources"), self._ops_odoo_root()), "openupgrade")

    @api.model
    def _ops_odoo_root(self):
        """The control plane's own Odoo tree (the directory holding its odoo/ package)."""
        return os.path.dirname(os.path.dirname(os.path.abspath(odoo.release.__file__)))

    def _ops_build_spec(self):
        """How an executor builds this tool's image when a host lacks it: the
        Odoo version and its source tree (None when this is not one of the
        versions the platform builds)."""
        self.ensure_one()
        if self.version not in odoo_versions.VERSIONS:
            return {}
        config = self.configuration or {}
        # sudo: where the Odoo trees are is the platform's setting, read for a claimed run
        param = self.env["ir.config_parameter"].sudo().get_param
        odoo_root = self._ops_odoo_root()
        root = odoo_versions.sources_root(param("ipai_ops.odoo_sources"), odoo_root)
        return {"odoo_version": self.version,
                "source_dir": config.get("odoo_source") or odoo_versions.source_dir(root, self.version, odoo_root),
                "debian_mirror": param("ipai_ops.debian_mirror") or None}

from odoo import fields, models


class OpsProject(models.Model):
    """How the project's environments face their visitors at the front door."""

    _inherit = "ops.project"

    maintenance_html = fields.Html(
        "Maintenance page", sanitize=True, sanitize_overridable=False,
        help="Shown (HTTP 503, Retry-After 30) while a production deploy updates the database. Empty: a "
             "plain page with the project's name.")

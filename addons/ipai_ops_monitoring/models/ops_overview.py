"""The overview's open incidents (core's ops.overview): what is wrong now in
the environments this user may see, newest first."""

from odoo import _, models
from odoo.addons.ipai_ops_core.models.ops_overview import SHOWN, _item, _label


class OpsOverview(models.AbstractModel):
    _inherit = "ops.overview"

    def _ops_overview_sections(self):
        sections = super()._ops_overview_sections()
        sections.insert(sections.index("_ops_overview_failing") + 1, "_ops_overview_incidents")
        return sections

    def _ops_overview_incidents(self):
        domain = [("state", "in", ("open", "acknowledged"))]
        incidents = self.env["ops.incident"].search(domain, limit=SHOWN)
        tones = {"critical": "danger", "warning": "warning"}
        return self._section(
            "incidents", _("Incidents open"), _("No incident is open."), "ops.incident", domain, incidents,
            lambda incident: _item(incident, self.env._("%(env)s · since %(at)s UTC",
                                                        env=incident.environment_id.display_name,
                                                        at=incident.opened_at.strftime("%Y-%m-%d %H:%M")),
                                   _label(incident, "state"), tones.get(incident.severity, "secondary")))

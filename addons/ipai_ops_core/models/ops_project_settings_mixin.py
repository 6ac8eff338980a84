from odoo import _, api, models


class OpsProjectSettingsMixin(models.AbstractModel):
    """Records that are part of a project's settings (members, branch
    rules): only the project's admins and owners, and Ops Managers,
    create, change or delete them. Checked on the server for every caller."""

    _name = "ops.project.settings.mixin"
    _description = "Ops project setting"
    _ops_settings_label = "settings"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        records._ops_check_can_manage()
        return records

    def write(self, vals):
        self._ops_check_can_manage()
        res = super().write(vals)
        if "project_id" in vals:
            self._ops_check_can_manage()  # moving to another project needs rights there too
        return res

    def unlink(self):
        self._ops_check_can_manage()
        return super().unlink()

    def _ops_check_can_manage(self):
        if self.env.su:
            return
        for project in self.project_id:
            project._ops_check_project_action("members" if self._name == "ops.project.member" else "settings",
                                              _("change the %(what)s of project %(project)s",
                                                what=self._ops_settings_label, project=project.name))

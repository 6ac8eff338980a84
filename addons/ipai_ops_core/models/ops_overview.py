"""The Ops app's home page (static/src/overview): what needs this user now,
read with the user's own rights (record rules keep other projects out).
Each section is a method; another addon adds its own by extending
``_ops_overview_sections`` (the monitoring addon: open incidents)."""

from odoo import _, api, models

SHOWN = 8  # items listed per section; the count says how many there are


def _item(record, detail="", badge="", tone="secondary"):
    return {"model": record._name, "id": record.id, "name": record.display_name, "detail": detail or "",
            "badge": badge or "", "tone": tone}


def _run_item(run, detail="", badge="", tone="secondary"):
    """A run by what it does where (Deploy · acme/main), its number in the detail."""
    item = _item(run, detail, badge, tone)
    item["name"] = "%s · %s" % (_label(run, "kind"), run.environment_id.display_name or run.project_id.display_name)
    item["detail"] = "%s %s" % (run.display_name, item["detail"])
    return item


def _label(record, field):
    return dict(record._fields[field]._description_selection(record.env)).get(record[field], record[field] or "")


class OpsOverview(models.AbstractModel):
    _name = "ops.overview"
    _description = "Ops overview"

    @api.model
    def get_overview(self):
        """[{key, title, empty, count, items: [{model, id, name, detail, badge, tone}], domain, model}]"""
        return [getattr(self, method)() for method in self._ops_overview_sections()]

    @api.model
    def _ops_overview_sections(self):
        return ["_ops_overview_waiting", "_ops_overview_running", "_ops_overview_failing",
                "_ops_overview_environments"]

    def _section(self, key, title, empty, model, domain, records, item):
        return {"key": key, "title": title, "empty": empty, "model": model, "domain": domain,
                "count": self.env[model].search_count(domain) if len(records) >= SHOWN else len(records),
                "items": [item(record) for record in records[:SHOWN]]}

    def _ops_overview_waiting(self):
        """Runs waiting for an approval this user may give."""
        Run = self.env["ops.run"]
        waiting = Run.search([("state", "=", "waiting_approval")], order="id")
        mine = waiting.filtered(lambda run: run.environment_id.may_approve)
        return {"key": "waiting", "title": _("Waiting for me"), "empty": _("Nothing waits for your approval."),
                "model": "ops.run", "domain": [("id", "in", mine.ids)], "count": len(mine),
                "items": [_run_item(run, run.approval_summary and run.approval_summary.splitlines()[0] or "",
                                    self.env._("To approve"), "warning") for run in mine[:SHOWN]]}

    def _ops_overview_running(self):
        """What the workers do now, and what is in line."""
        domain = [("state", "in", ("queued", "claimed", "running")), ("kind", "!=", "shell")]
        runs = self.env["ops.run"].search(domain, order="id desc", limit=SHOWN)
        tones = {"queued": "info", "claimed": "info", "running": "primary"}
        return self._section(
            "running", _("Running now"), _("No run is queued or running."), "ops.run", domain, runs,
            lambda run: _run_item(run, run.queue_note or "", _label(run, "state"), tones.get(run.state, "secondary")))

    def _ops_overview_failing(self):
        """Environments whose last run failed, with why."""
        domain = [("last_result", "=", "failed"), ("state", "!=", "destroyed")]
        envs = self.env["ops.environment"].search(domain, order="id desc", limit=SHOWN)
        return self._section(
            "failing", _("Failing"), _("No environment is failing."), "ops.environment", domain, envs,
            lambda env: _item(env, (env.last_error or "").splitlines()[0] if env.last_error else "",
                              _label(env, "stage"), "danger"))

    def _ops_overview_environments(self):
        """The environments of this user's projects, newest activity first."""
        domain = [("state", "!=", "destroyed"), ("project_id.member_ids.user_id", "=", self.env.uid)]
        envs = self.env["ops.environment"].search(domain, limit=SHOWN, order="write_date desc, id desc")
        tones = {"running": "success", "building": "info", "failed": "danger"}
        return self._section(
            "environments", _("My environments"), _("You are a member of no project yet."), "ops.environment",
            domain, envs,
            lambda env: _item(env, "%s · %s" % (_label(env, "stage"), env.url or ""), _label(env, "state"),
                              tones.get(env.state, "secondary")))

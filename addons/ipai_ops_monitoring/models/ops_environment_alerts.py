import logging
import re
from datetime import timedelta

from odoo import _, fields, models

_logger = logging.getLogger(__name__)
MAX_EVIDENCE_LINES = 20


def metric_value(metric, sample):
    """A rule's metric in one minute's sample (a dict of its columns); None: not measured."""
    if metric == "health_down":
        return None if sample.get("health_ok") is None else (0 if sample["health_ok"] else 1)
    if metric == "error_share":
        return None if not sample.get("requests") else (sample.get("req_5xx") or 0) / sample["requests"]
    if metric == "mem_share":
        limit = sample.get("mem_limit_bytes")
        return None if not limit or sample.get("mem_bytes") is None else sample["mem_bytes"] / limit
    return sample.get(metric)


class OpsEnvironment(models.Model):
    """Alert rules evaluated after each collection of an environment:
    incidents opened, kept, resolved; notifications to the environment's
    chatter, its project admins (an activity), and the channels."""

    _inherit = "ops.environment"

    def _ops_alert_rules(self):
        self.ensure_one()
        # sudo: the collector applies every rule that covers the environment, global or its project's
        rules = self.env["ops.alert.rule"].sudo().search([("project_id", "in", (False, self.project_id.id))])
        return rules.filtered(lambda rule: rule._ops_applies_to(self))

    def _ops_log_matcher(self, rules):
        """(on_line callback for the collector, {rule id: matching lines})."""
        patterns = [(rule.id, re.compile(rule.pattern)) for rule in rules if rule.kind == "log"]
        matches = {}

        def on_line(text):
            for rule_id, pattern in patterns:
                if pattern.search(text):
                    found = matches.setdefault(rule_id, [])
                    if len(found) < MAX_EVIDENCE_LINES:
                        found.append(text[:1000])
        return on_line, matches

    def _ops_evaluate_alerts(self, rules, matches):
        self.ensure_one()
        Incident = self.env["ops.incident"].sudo()  # sudo: the platform opens and resolves incidents
        now = fields.Datetime.now()
        recent = self._ops_recent_samples(max([r.for_minutes for r in rules if r.kind == "metric"] or [1]) + 2)
        for rule in rules:
            incident = Incident.search([("rule_id", "=", rule.id), ("environment_id", "=", self.id),
                                        ("state", "!=", "resolved")], limit=1)
            if rule.kind == "log":
                lines = matches.get(rule.id)
                if lines and not incident:
                    self._ops_open_incident(rule, "\n".join(lines))
                elif lines:
                    incident.write({"last_seen_at": now})
                elif incident and (incident.last_seen_at or incident.opened_at) < now - timedelta(
                        minutes=rule.for_minutes):
                    incident._ops_resolve(_("no matching line for %d minutes", rule.for_minutes))
                continue
            if rule.kind == "run":
                self._ops_evaluate_run_rule(rule, incident)
                continue
            if rule.kind == "regression":  # the deploy reports open and resolve these
                continue
            measured = [(sample["minute"], metric_value(rule.metric, sample)) for sample in recent]
            measured = [(minute, value) for minute, value in measured if value is not None]
            window = measured[:rule.for_minutes]
            holds = len(window) == rule.for_minutes and all(rule._ops_holds(value) for _m, value in window)
            if holds and not incident:
                self._ops_open_incident(rule, "\n".join("%s UTC: %s = %s" % (minute, rule.metric, round(value, 4))
                                                        for minute, value in reversed(window)))
            elif incident and measured and not rule._ops_holds(measured[0][1]):
                incident._ops_resolve(_("%(metric)s = %(value)s at %(minute)s UTC", metric=rule.metric,
                                        value=round(measured[0][1], 4), minute=measured[0][0]))
            elif incident and rule.repeat_minutes and incident.last_notified_at < now - timedelta(
                    minutes=rule.repeat_minutes):
                incident._ops_notify("repeat")

    def _ops_evaluate_run_rule(self, rule, incident):
        # sudo: the platform's own view of the environment's runs
        last = self.env["ops.run"].sudo().search([("environment_id", "=", self.id), ("kind", "=", rule.run_kind),
                                                  ("state", "in", ("succeeded", "failed"))],
                                                 order="finished_at desc, id desc", limit=1)
        if last.state == "failed" and not incident:
            self._ops_open_incident(rule, "%s failed: %s" % (last.display_name, last.error_message or ""))
        elif last.state == "succeeded" and incident:
            incident._ops_resolve(_("%s succeeded", last.display_name))

    def _ops_recent_samples(self, count):
        """The environment's last ``count`` minutes, newest first, as dicts (NULL stays None)."""
        self.env.cr.execute("""
            SELECT minute, health_ok, requests, req_5xx, p95_ms, cpu_pct, mem_bytes, mem_limit_bytes, oom_kills,
                   disk_used_pct, backup_age_h, db_connections, longest_xact_s, lock_waits, archive_lag_s,
                   archive_failing
              FROM ops_metric_sample WHERE environment_id = %s ORDER BY minute DESC LIMIT %s""", [self.id, count])
        names = [column.name for column in self.env.cr.description]
        return [dict(zip(names, row, strict=True)) for row in self.env.cr.fetchall()]

    def _ops_open_incident(self, rule, evidence):
        # sudo: users have no create right on incidents; the platform opens them
        incident = self.env["ops.incident"].sudo().create({
            "name": "%s: %s" % (self.name, rule.name), "environment_id": self.id, "project_id": self.project_id.id,
            "rule_id": rule.id, "evidence": evidence, "last_seen_at": fields.Datetime.now()})
        incident._ops_notify("open")
        # The project's admins and owners get something to do about it.
        admins = self.project_id.member_ids.filtered(lambda m: m.role in ("admin", "owner")).user_id
        for user in admins:
            incident.activity_schedule("mail.mail_activity_data_todo", user_id=user.id,
                                       summary=_("Incident: %s", rule.name))
        return incident

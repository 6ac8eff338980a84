from odoo import _, fields, models

from ..services import sizing

DAYS = 7


class OpsEnvironment(models.Model):
    """The worker sizing hint (services/sizing.py) from the last week's
    minutes, on the environment's Runtime tab and over XML-RPC."""

    _inherit = "ops.environment"

    sizing_hint = fields.Text("Sizing hint", compute="_compute_sizing_hint",
                              help="What the last week's traffic suggests for workers and memory limits")

    def _compute_sizing_hint(self):
        for env in self:
            found = env._ops_sizing() if env.id and env.state == "running" else {"reasons": []}
            if "workers" not in found:
                env.sizing_hint = "\n".join(found["reasons"]) or False
                continue
            env.sizing_hint = _(
                "Suggested: %(workers)s HTTP workers, %(crons)s cron workers, limit_memory_soft %(soft)s MB, "
                "limit_memory_hard %(hard)s MB, container memory %(container)s MB.\n", workers=found["workers"],
                crons=found["cron_threads"], soft=found["limit_memory_soft_mb"], hard=found["limit_memory_hard_mb"],
                container=found["container_memory_mb"]) + "\n".join(found["reasons"])

    def _ops_sizing(self):
        self.ensure_one()
        self.env.cr.execute("""
            SELECT requests, concurrency, mem_bytes, cpu_cron_pct FROM ops_metric_sample
             WHERE environment_id = %s AND minute > now() at time zone 'UTC' - interval '%s days'""",
                            [self.id, DAYS])
        samples = [dict(zip(("requests", "concurrency", "mem_bytes", "cpu_cron_pct"), row, strict=True))
                   for row in self.env.cr.fetchall()]
        runtime = self._ops_runtime()
        return sizing.hint(samples, runtime.get("workers") or 0, runtime.get("cron_threads") or 0)

    def sizing(self):
        """The hint as values (XML-RPC), under the stage matrix's *monitoring*."""
        self.ensure_one()
        self.check_access("read")
        self.project_id._ops_check_action(self.stage, "monitoring")
        return self._ops_sizing()

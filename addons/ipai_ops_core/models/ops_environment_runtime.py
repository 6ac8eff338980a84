from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..executors.cutover import CRON_TIME_REAL

# Odoo's own defaults (odoo/tools/config.py): seconds, and MB of virtual memory per worker.
LIMIT_TIME_CPU, LIMIT_TIME_REAL = 60, 120
MEMORY_SOFT_MB, MEMORY_HARD_MB = 2048, 2560
# A worker's resident memory, roughly, for sizing: ~300 MB each, 256 MB for
# the master, the gevent process and a cron worker.
WORKER_MB, BASE_MB = 300, 256
SETTINGS = ("workers", "cron_threads", "limit_memory_soft_mb", "limit_memory_hard_mb", "limit_time_cpu",
            "limit_time_real")


def default_runtime(stage, cpu, mem_mb):
    """How Odoo runs in an environment, from its stage and its container's
    limits. Production and staging: prefork, workers = 2 x CPUs + 1 as far as
    the container's memory allows (~300 MB resident each), one cron worker.
    Development: one threaded process (its websocket on the same port), no
    cron thread. Memory limits are Odoo's own defaults: Odoo measures a
    worker's virtual memory, which the container's limit (resident memory,
    the cgroup's) does not bound; that one is the real ceiling."""
    common = {"limit_memory_soft_mb": MEMORY_SOFT_MB, "limit_memory_hard_mb": MEMORY_HARD_MB,
              "limit_time_cpu": LIMIT_TIME_CPU, "limit_time_real": LIMIT_TIME_REAL}
    if stage == "development":
        return dict(common, workers=0, cron_threads=0)
    workers = max(2, min(int(2 * cpu + 1), (mem_mb - BASE_MB) // WORKER_MB))
    return dict(common, workers=workers, cron_threads=1)


class OpsEnvironment(models.Model):
    """How Odoo runs in the environment's container: workers, cron workers,
    limits. A setting left at 0 (an integer field is never empty) follows
    the default of the stage and the project's container limits (shown as
    the effective runtime); project admins change them, the next build or
    deploy applies them."""

    _inherit = "ops.environment"

    workers = fields.Integer(
        "HTTP workers", help="HTTP worker processes. 0: the default, see the effective runtime (staging and "
                             "production: 2 x CPUs + 1 as the container's memory allows; development: one threaded "
                             "process).")
    cron_threads = fields.Integer("Cron workers", help="Processes running scheduled actions. 0: the default, see "
                                                       "the effective runtime (1; none on development).")
    limit_memory_soft_mb = fields.Integer("Memory soft limit (MB)", help="Per worker (virtual memory). 0: the "
                                                                         "default, %d MB." % MEMORY_SOFT_MB)
    limit_memory_hard_mb = fields.Integer("Memory hard limit (MB)", help="Per worker (virtual memory). 0: the "
                                                                         "default, %d MB." % MEMORY_HARD_MB)
    limit_time_cpu = fields.Integer("CPU time limit (s)", help="Per request. 0: the default, %d s." % LIMIT_TIME_CPU)
    limit_time_real = fields.Integer("Real time limit (s)", help="Per request; a longer one is killed. 0: the "
                                                                 "default, %d s." % LIMIT_TIME_REAL)
    effective_runtime = fields.Text("Effective runtime", compute="_compute_effective_runtime")
    gevent_port = fields.Integer("Websocket port", readonly=True, copy=False)

    _sql_constraints = [
        ("runtime_positive", "check(coalesce(workers, 0) >= 0 AND coalesce(cron_threads, 0) >= 0 AND "
                             "coalesce(limit_time_cpu, 0) >= 0 AND coalesce(limit_time_real, 0) >= 0)",
         "Runtime settings cannot be negative."),
    ]

    @api.constrains(*SETTINGS)
    def _check_runtime(self):
        for env in self:
            values = env._ops_runtime()
            if values["workers"] > 64 or values["cron_threads"] > 8:
                raise ValidationError(_("At most 64 workers and 8 cron workers."))
            if values["limit_memory_soft_mb"] > values["limit_memory_hard_mb"]:
                raise ValidationError(_("The memory soft limit must not exceed the hard limit."))
            if values["limit_memory_soft_mb"] < 256 or (values["limit_time_real"] and values["limit_time_real"] < 2):
                raise ValidationError(_("Memory limits start at 256 MB and time limits at 2 s."))

    @api.depends(*SETTINGS, "stage", "project_id.cpu_limit", "project_id.mem_limit_mb")
    def _compute_effective_runtime(self):
        for env in self:
            values = env._ops_runtime()
            mode = "prefork, %(workers)d HTTP workers, %(cron_threads)d cron workers, websocket on its own port" \
                if values["workers"] else "one threaded process (websocket on the same port), %(cron_threads)d " \
                                          "cron threads"
            env.effective_runtime = (mode + "; memory %(limit_memory_soft_mb)d/%(limit_memory_hard_mb)d MB per "
                                     "worker; time limits %(limit_time_cpu)ds CPU, %(limit_time_real)ds real "
                                     "(scheduled actions: %(cron_real)ds)") % dict(
                values, cron_real=max(values["limit_time_real"], CRON_TIME_REAL))

    def _ops_running_run(self):
        """The run whose commit this environment runs: its last successful
        build, deploy or upgrade that recorded one (after an upgrade, the
        upgrade branch's commit). An empty recordset when there is none."""
        self.ensure_one()
        # sudo: which commit an environment runs is the platform's record, whoever asks
        return self.env["ops.run"].sudo().search([
            ("environment_id", "=", self.id), ("kind", "in", ("build", "deploy", "upgrade")),
            ("state", "=", "succeeded"), ("commit_sha", "!=", False)], order="id desc", limit=1)

    def _ops_runtime(self):
        """The effective settings: the environment's own, else the defaults."""
        self.ensure_one()
        values = default_runtime(self.stage, self.project_id.cpu_limit or 1.0, self.project_id.mem_limit_mb or 2048)
        for name in SETTINGS:
            if self[name]:
                values[name] = self[name]
        return values

    def write(self, vals):
        if not self.env.su and set(vals) & set(SETTINGS):
            for env in self:
                env.project_id._ops_check_project_action(
                    "settings", _("change the runtime settings of %s", env.name))
        return super().write(vals)

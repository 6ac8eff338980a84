import os

import psutil
from odoo import _, api, fields, models

from ..executors.base import RunFailed

# Sizing of a host's slots (runs at once) when its capacity is left at 0:
# a build's container (the project's limit, 1 GB by default) with Odoo, git
# and its PostgreSQL work around it, and memory kept for the control plane.
SLOT_MB = 1536
RESERVED_MB = 2048
DEFAULT_OVERCOMMIT = 1.5  # running environments' memory limits against the host's memory


def auto_slots(cpus, memory_mb):
    """Runs at once on a machine: one more than its CPUs (a build waits on
    disk, the network and health checks part of the time), as far as its
    memory allows (SLOT_MB each, RESERVED_MB kept); at least one."""
    return max(1, min(int(cpus) + 1, (int(memory_mb) - RESERVED_MB) // SLOT_MB))


class OpsHost(models.Model):
    """What a Docker host can take: its slots (runs at once: its capacity, or
    sized from its CPUs and memory), the workers alive on it, the runs they
    execute, and the memory its running environments commit against its
    own. An environment that would commit more than the overcommit ratio
    (ipai_ops.memory_overcommit, default 1.5) is refused with what to stop."""

    _inherit = "ops.host"

    slots = fields.Integer(compute="_compute_capacity", help="Runs executed at once here: the capacity, or sized "
                                                              "from the machine's CPUs and memory when it is 0.")
    slots_used = fields.Integer("Slots in use", compute="_compute_capacity")
    workers_alive = fields.Integer("Workers alive", compute="_compute_capacity")
    memory_total_mb = fields.Integer("Memory (MB)", compute="_compute_capacity")
    memory_committed_mb = fields.Integer("Committed (MB)", compute="_compute_capacity",
                                         help="The memory limits of the environments running here.")
    memory_note = fields.Char("Memory", compute="_compute_capacity")

    def _ops_machine(self):
        """(CPUs, memory in MB) of the machine behind this host's Docker engine."""
        self.ensure_one()
        if self.runtime_kind != "swarm" and (self.docker_url or "").startswith("unix://"):
            return os.cpu_count() or 1, psutil.virtual_memory().total // (1024 * 1024)
        try:
            return self._ops_engine(timeout=10).machine()  # a swarm: its ready and active nodes
        except Exception:  # noqa: BLE001 - an engine that does not answer: unknown
            return None, None

    def _ops_slots(self):
        self.ensure_one()
        if self.capacity:
            return self.capacity
        cpus, memory = self._ops_machine()
        return auto_slots(cpus, memory) if cpus else 1

    def _ops_running_envs(self, exclude=None):
        # sudo: what runs on a host counts whoever looks at it
        envs = self.env["ops.environment"].sudo().search([
            ("state", "=", "running"), ("host", "in", [self.name] + (["local", False] if self.name == "local"
                                                                      else []))])
        return envs - exclude if exclude else envs

    # What runs there moves all the time: not stored, computed again in every request.
    @api.depends("capacity")
    def _compute_capacity(self):
        for host in self:
            cpus, memory = host._ops_machine()
            host.slots = host.capacity or (auto_slots(cpus, memory) if cpus else 1)
            # sudo: the platform's bookkeeping of workers and runs
            workers = self.env["ops.worker"].sudo()._ops_alive(host.name)
            host.workers_alive = len(workers)
            names = set(self.env["ops.worker"].sudo().search([("host", "=", host.name)]).mapped("name"))
            busy = self.env["ops.run"].sudo().search([("state", "in", ("claimed", "running")), ("kind", "!=", "shell")])
            host.slots_used = len(busy.filtered(
                lambda r, names=names, host=host: (r.claimed_by or "").split("/")[0] in names
                or (host.name == "local" and (r.claimed_by or "").startswith("cron@"))))
            committed = sum(host._ops_running_envs().mapped("project_id.mem_limit_mb"))
            host.memory_total_mb, host.memory_committed_mb = memory or 0, committed
            host.memory_note = _("%(committed).1f of %(total).1f GB committed (%(ratio)d %%; limit %(limit)d %%)",
                                 committed=committed / 1024, total=(memory or 0) / 1024,
                                 ratio=100 * committed / memory if memory else 0,
                                 limit=100 * host._ops_overcommit()) if memory else _("unknown (no answer)")

    def _ops_overcommit(self):
        # sudo: configuration parameters are readable by system users only
        value = self.env["ir.config_parameter"].sudo().get_param("ipai_ops.memory_overcommit")
        try:
            return max(0.1, float(value)) if value else DEFAULT_OVERCOMMIT
        except ValueError:
            return DEFAULT_OVERCOMMIT

    def _ops_check_memory(self, env):
        """Refuse to start ``env``'s container here when the running
        environments' memory limits and its own would pass the overcommit
        ratio; the message names what to stop."""
        self.ensure_one()
        _cpus, memory = self._ops_machine()
        if not memory or env.state == "running":
            return  # unknown machine, or a container that replaces one already counted
        running = self._ops_running_envs(exclude=env)
        committed, wanted = sum(running.mapped("project_id.mem_limit_mb")), env.project_id.mem_limit_mb
        limit = memory * self._ops_overcommit()
        if committed + wanted <= limit:
            return
        biggest = running.sorted(lambda e: (-e.project_id.mem_limit_mb, e.stage == "production", e.id))[:5]
        raise RunFailed(_(
            "Host %(host)s cannot start %(env)s (%(wanted)d MB): its running environments commit %(committed)d MB of "
            "its %(memory)d MB and the limit is %(ratio)d %% (ipai_ops.memory_overcommit). Stop or destroy one "
            "first: %(names)s.", host=self.name, env=env.name, wanted=wanted, committed=committed, memory=memory,
            ratio=100 * self._ops_overcommit(),
            names=", ".join("%s (%d MB, %s)" % (e.name, e.project_id.mem_limit_mb, e.stage) for e in biggest)))

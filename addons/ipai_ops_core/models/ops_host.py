import os

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..services import naming, runtime
from .ops_project import validated


class OpsHost(models.Model):
    """A Docker endpoint that runs environments, and how many runs it takes at once.

    Workers are started with ``--host NAME``: they use its Docker endpoint
    and default to its capacity for their concurrency. Environments on it run
    on networks of their own (services/env_network.py), never the host's.
    """

    _name = "ops.host"
    _description = "Ops Docker host"
    _order = "name"

    name = fields.Char(required=True, help="Short name, e.g. local, build-1")
    docker_url = fields.Char("Docker endpoint", required=True, default="unix:///var/run/docker.sock",
                             help="unix:///var/run/docker.sock, tcp://10.0.0.5:2376, ssh://ops@build-1")
    runtime_kind = fields.Selection(
        [("docker", "Docker engine"), ("swarm", "Docker Swarm manager")], "Runtime", default="docker", required=True,
        help="Docker engine: plain containers on this one machine. Docker Swarm manager: each environment a service "
             "of the swarm on an overlay network of its own, reached through the platform's gateway (production "
             "serving; see the README's runtime section for what runs there so far).")
    capacity = fields.Integer(default=0, help="How many runs this host executes at once; 0: sized from its CPUs "
                                              "and memory (see Slots).")
    repo_roots = fields.Text(
        "Local repository roots",
        help="Absolute directories, one per line, under which projects may use local git repositories "
             "(a path or file:// URL). Empty: projects may only use remote repositories (https, ssh).")
    active = fields.Boolean(default=True)
    environment_count = fields.Integer("Number of environments", compute="_compute_environment_count")

    _sql_constraints = [
        ("name_uniq", "unique(name)", "A host with this name already exists."),
        ("capacity_positive", "check(capacity >= 0)", "A host's capacity is a number of runs, or 0 (automatic)."),
    ]

    def _ops_engine(self, timeout=60):
        """The runtime backend of this host (services/runtime.py)."""
        self.ensure_one()
        return runtime.connect(self.docker_url or None, self.runtime_kind or "docker", timeout=timeout,
                               nodes=self._ops_node_endpoints() if self.runtime_kind == "swarm" else None)

    @api.model
    def _ops_named(self, name):
        """The host named ``name`` (an environment's ``host``; none: "local"),
        as superuser: hosts are managers' records, and the platform's runs,
        crons and readers need where an environment runs. An empty
        recordset when there is none."""
        # sudo: see above; callers return or use only where things run, never the record itself
        return self.sudo().search([("name", "=", name or "local")], limit=1)

    @api.model
    def _ops_engine_of(self, name, timeout=60):
        """The backend of the host named ``name`` (none recorded: this machine's engine)."""
        host = self._ops_named(name)
        return host._ops_engine(timeout) if host else runtime.connect(None, timeout=timeout)

    @api.constrains("repo_roots")
    def _check_repo_roots(self):
        for host in self:
            for root in host._ops_root_lines():
                if not os.path.isabs(root) or os.path.realpath(root) == "/":
                    raise ValidationError(_("Local repository roots are absolute directories other than /, "
                                            "one per line (%r).", root))

    def _ops_root_lines(self):
        return [line.strip() for line in (self.repo_roots or "").splitlines() if line.strip()]

    @api.model
    def _ops_repo_roots(self):
        """Resolved directories local repositories may live under: what Ops
        Managers allowed on the hosts, plus the platform's own demo root."""
        # sudo: hosts are managers' records; the list of roots is no secret
        # and every project check needs it.
        roots = [line for host in self.sudo().search([]) for line in host._ops_root_lines()]
        roots.append(self.env["ops.run"]._ops_settings()["demo_root"])
        return sorted({os.path.realpath(root) for root in roots})

    @api.constrains("name", "docker_url")
    def _check_values(self):
        for host in self:
            validated(naming.validate_slug, host.name)
            url = host.docker_url or ""
            if not url.startswith(("unix:///", "tcp://", "ssh://")) or any(c.isspace() for c in url):
                raise ValidationError(_("Invalid Docker endpoint %r: use unix:///..., tcp://... or ssh://...", url))

    def _compute_environment_count(self):
        counts = dict(self.env["ops.environment"]._read_group(
            [("host", "in", self.mapped("name")), ("state", "!=", "destroyed")], ["host"], ["__count"]))
        for host in self:
            host.environment_count = counts.get(host.name, 0)

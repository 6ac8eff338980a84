import logging
import os

from odoo import api, models
from odoo.exceptions import ValidationError

from ..executors import node_files, paths
from ..services import env_log, naming, runtime
from ..services.log_index import LEVELS
from .rpc_args import time_arg, valid_records

_logger = logging.getLogger(__name__)
MAX_LIMIT = 5000  # lines one call returns at most
MAX_GREP = 200  # characters of a text filter
PULL_EVERY = 5  # seconds between two takes of a log from a node's own disk for its readers


class OpsEnvironment(models.Model):
    """Live logs: each environment's Odoo log, kept by the platform across
    container switches and restarts (services/env_log.py), read through
    the control plane by the people the stage matrix lets read logs (every
    project role on development, testers and up on staging, admins on
    production): the Logs tab, ``ops env logs`` and XML-RPC."""

    _inherit = "ops.environment"

    def _ops_env_log(self):
        """The environment's log store (plain values; no access check)."""
        self.ensure_one()
        settings = self.env["ops.run"]._ops_settings()
        # sudo: system parameters, readable by system users only
        params = self.env["ir.config_parameter"].sudo()
        # sudo: the slug names the log's directory; whoever asks may read the environment (checked by callers)
        live_dir, store_dir = paths.log_dirs(settings["filestore_root"], self.project_id.sudo().slug, self.id)
        max_mb = params._ops_int("ipai_ops.log_max_mb", env_log.DEFAULT_MAX_BYTES // (1024 * 1024))
        keep = params._ops_int("ipai_ops.log_keep", env_log.DEFAULT_KEEP)
        pull, node = None, self._ops_own_disk_node()
        if node:  # its unit writes its log on that node's disk: taken from there through the node's engine
            labels = runtime.labels_for(naming.namespace_for(self.env.cr.dbname), self.project_id.sudo().slug,
                                        self.id, None, "log")
            url = node.docker_url
            pull = node_files.log_puller(lambda: runtime.connect(url, timeout=120), os.path.dirname(live_dir), labels)
        return env_log.EnvLog(live_dir, store_dir, max_bytes=max_mb * 1024 * 1024, keep=keep, pull=pull)

    def _ops_check_logs(self):
        valid_records(self, "Environment").ensure_one()
        self.check_access("read")
        self.project_id._ops_check_action(self.stage, "logs")

    def logs(self, since=None, until=None, grep=None, level=None, limit=200, after=None):
        """The environment's log lines: the newest ``limit`` (oldest first)
        that match, or with ``after`` (the ``cursor`` of an earlier answer)
        the lines written since, for following it. ``since``/``until``: a
        duration ago ("10m", "2h", "7d") or a UTC date and time; ``grep``:
        literal text, case-insensitive; ``level``: the lowest level shown
        (debug, info, warning, error, critical). Returns {"lines": [{cursor,
        time, level, text}], "cursor"}."""
        self._ops_check_logs()
        args = _log_args(self.env, since, until, grep, level, limit, after)
        store = self._ops_env_log()
        # what was written since the cron's last pass (skipped while it indexes; from a node's disk at most
        # every PULL_EVERY seconds)
        store.sync(blocking=False, pull_every=PULL_EVERY)
        try:
            return store.read(**args)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    @api.model
    def logs_branch(self, project, branch, since=None, until=None, grep=None, level=None, limit=200, after=None):
        """``ops env logs PROJECT BRANCH``."""
        env = self._ops_branch_environment(project, branch)
        answer = env.logs(since=since, until=until, grep=grep, level=level, limit=limit, after=after)
        return dict(answer, environment_id=env.id)

    def action_open_logs_download(self):
        self._ops_check_logs()
        return {"type": "ir.actions.act_url", "url": "/ipai_ops/environment/%d/logs" % self.id, "target": "self"}

    @api.model
    def _cron_sync_logs(self):
        """Index, rotate and prune every environment's log (every minute)."""
        # sudo: the platform keeps every environment's log, whoever may read it
        for env in self.sudo().search([("state", "not in", ("new", "destroyed"))]):
            try:
                env._ops_env_log().sync()
            except Exception:  # one environment's broken log never stops the others
                _logger.exception("Could not index the log of environment %s", env.id)


def _log_args(env, since, until, grep, level, limit, after):
    """The arguments of logs(), checked: a clear error naming the bad one,
    in the language of the caller's ``env``."""
    args = {}
    for name, value in (("since", since), ("until", until)):
        args[name] = None if value in (None, False, "") else time_arg(env, name, value)
    if grep not in (None, False, ""):
        if not isinstance(grep, str) or len(grep) > MAX_GREP or "\x00" in grep or "\n" in grep:
            raise ValidationError(env._("The text filter is one line of at most %d characters.", MAX_GREP))
    args["grep"] = grep or None
    if level in (None, False, ""):
        args["min_level"] = None
    elif not isinstance(level, str) or level.upper() not in LEVELS:
        raise ValidationError(env._("level is one of %(levels)s, not %(level)r.",
                                    levels=", ".join(name.lower() for name in LEVELS), level=level))
    else:
        args["min_level"] = LEVELS[level.upper()]
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(env._("limit is a number of lines from 1 to %(max)d, not %(limit)r.", max=MAX_LIMIT,
                                    limit=limit))
    args["limit"] = limit
    if after not in (None, False, "") and not (isinstance(after, str) and env_log.CURSOR.match(after)):
        raise ValidationError(env._("after is a cursor returned by an earlier call, not %r.", str(after)[:40]))
    args["after"] = after or None
    return args

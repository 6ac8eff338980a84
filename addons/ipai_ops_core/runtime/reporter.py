"""The executors' reporter, backed by the database.

Each call writes through a cursor of its own and commits at once: the UI
and `ops run logs --follow` see progress while the run executes, state is
saved before each side effect, and a heartbeat thread keeps the run alive
(and learns about a cancellation) while a long step runs.
"""

import hashlib
import logging
import os
import threading
import time
from datetime import datetime, timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.service.model import retrying

from ..executors.base import Reporter, RunCanceled
from ..services import jsonutil, nginx

_logger = logging.getLogger(__name__)


class DbReporter(Reporter):
    def __init__(self, registry, run_id, worker_id, heartbeat_interval=20, batch=200, flush_seconds=1.0,
                 log_path=None):
        self.registry, self.run_id, self.worker_id = registry, run_id, worker_id
        # The full log is also kept as a file (an artifact of the run).
        self.log_path = log_path
        self._file = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self.batch, self.flush_seconds = batch, flush_seconds
        self._lines = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self.canceled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat_interval,), daemon=True,
                                        name="ops-heartbeat-%d" % run_id)

    # context manager: the heartbeat runs while the executor does
    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
        if self._file:
            self._file.close()
            self._file = None
            self._save_log_artifact()

    def _save_log_artifact(self):
        digest = hashlib.sha256()
        with open(self.log_path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)

        def save(run):
            # One log file per run: a later attempt appends to it and the
            # artifact is recorded again with the new size and checksum.
            days = int(run.env["ir.config_parameter"].get_param("ipai_ops.log_retention_days") or 90)
            run.add_run_artifact("log", self.log_path, digest.hexdigest(), "text/plain",
                                 os.path.getsize(self.log_path),
                                 fields.Datetime.to_string(fields.Datetime.now() + timedelta(days=days)))

        self._do(save)

    def _do(self, func):
        """``func(run)`` in a cursor of its own, committed at once; retried
        (Odoo's own ``retrying``) when a concurrent transaction (another
        worker, the cron, a user) wrote the same rows meanwhile."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return retrying(lambda: func(env["ops.run"].browse(self.run_id)), env)

    def _beat(self, interval):
        while not self._stop.wait(interval):
            try:
                states = self._do(lambda run: run.heartbeat(self.worker_id))
                if states.get(str(self.run_id)) == "canceled":
                    self.canceled = True
            except Exception:  # noqa: BLE001 - a missed beat is retried; the reaper decides
                _logger.exception("ops: heartbeat of run %s failed", self.run_id)

    def log(self, level, message):
        with self._lock:
            # the time it was said: the lines are written in batches, seconds later when a step is silent
            self._lines.append({"level": level, "message": message, "timestamp": datetime.utcnow()})
            if self._file:
                self._file.write("%s %-5s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), level.upper(), message))
            due = len(self._lines) >= self.batch or time.monotonic() - self._last_flush > self.flush_seconds
        if due:
            self.flush()

    def flush(self):
        with self._lock:
            lines, self._lines = self._lines, []
            self._last_flush = time.monotonic()
        if lines:
            self._do(lambda run: run.append_run_log(lines))

    def check_canceled(self):
        if not self.canceled:
            self.canceled = self._do(lambda run: run.state == "canceled")
        if self.canceled:
            raise RunCanceled()

    def set_commit(self, sha):
        self._do(lambda run: run.write({"commit_sha": sha}))

    def artifact(self, key, location, sha256=None, content_type=None, size=0):
        self._do(lambda run: run.add_run_artifact(key, location, sha256, content_type, size))

    def update_record(self, model, res_id, values, only_if_empty=()):
        """Write runtime values on a record the run works on (a backup); the
        fields named in ``only_if_empty`` keep a value they already have (the
        start of a backup a retried attempt takes again)."""
        self.flush()

        def write(run):
            record = run.env[model].browse(res_id)
            record.write({k: v for k, v in values.items() if k not in only_if_empty or not record[k]})

        self._do(write)

    def upgrade_result(self, report, findings):
        """What an upgrade run found: its summary on the run and its findings
        (those of an earlier attempt replaced), in one transaction."""
        self.flush()

        def save(run):
            run.finding_ids.unlink()
            run.env["ops.upgrade.finding"].create([dict(f, run_id=run.id) for f in findings])
            # read back over XML-RPC, which carries no None
            run.write({"upgrade_report": jsonutil.without_nulls(report)})

        self._do(save)

    def update_environment(self, values):
        self.flush()
        self._do(lambda run: run.environment_id and run.environment_id.write(values))

    def environment_message(self, text):
        self._do(lambda run: run.environment_id and run.environment_id._message_log(body=text))

    def apply_proxy(self, values=None, drain_timeout=0):
        """Record ``values`` on the environment and load the front door from
        the records, in one transaction under the proxy's lock: the change
        is recorded only if nginx took it, and the next switch renders with
        it. Then the previous nginx workers finish what they held (at most
        ``drain_timeout`` seconds)."""
        self.flush()
        root = self._do(lambda run: run._ops_settings()["proxy_root"])

        def apply(run):
            env = run.environment_id
            if values:
                env.write(values)
            return env._ops_proxy_apply()

        started = time.monotonic()
        with nginx.locked(root):
            loaded = self._do(apply)
        switched = time.monotonic() - started
        if drain_timeout:
            nginx.drain(loaded["retiring"], drain_timeout)
        return {"status": loaded["status"], "seconds": switched}

"""Executing one claimed run to its end.

Every step commits in a transaction of its own (``Run._ops_in_cursor``,
retried on serialization failures): the run's start and spec, then the
executor's progress through the reporter, then its completion. A retried
attempt first removes what the lost one left (executors/cleanup.py).
"""

import logging
import os
import traceback

from ..executors import cleanup, registry
from ..executors.base import RunCanceled, RunFailed
from .reporter import DbReporter

_logger = logging.getLogger(__name__)


def execute_claimed(Run, run_id, worker_id, host="local"):
    """Execute the claimed run ``run_id`` (``Run``: the ops.run model);
    returns the run's final state."""

    def start(run):
        run.start_workflow_run(worker_id)
        try:
            return run.kind, run.attempt, run._executor_spec(host), None
        except RunFailed as exc:
            return run.kind, run.attempt, None, exc

    kind, attempt, spec, prepare_error = Run._ops_in_cursor(run_id, start)
    log_dir = os.path.join(Run.env["ops.run.artifact"]._artifact_root(), "logs")
    os.makedirs(log_dir, exist_ok=True)
    reporter = DbReporter(Run.env.registry, run_id, worker_id, log_path=os.path.join(log_dir, "run-%d.log" % run_id))
    exit_code, outcome, error, message, detail = 0, "ok", None, None, None
    try:
        with reporter:
            if prepare_error:
                raise prepare_error
            if attempt > 1:
                # A retried attempt starts clean: what the lost one made goes first.
                reporter.log("info", "Attempt %d of this run" % attempt)
                cleanup.remove_leftovers(spec, log=lambda line: reporter.log("info", line))
                Run._ops_in_cursor(run_id, lambda run: run._ops_forget_earlier_attempts())
            executor = registry.lookup(Run._ops_run_kinds(), kind, spec.get("stage"))
            if not executor:
                raise RunFailed("No executor for '%s' runs on %s." % (kind, spec.get("stage") or "this stage"))
            result = executor(spec, reporter)
            exit_code, outcome = result.get("exit_code", 0), result["result"]
            error, message, detail = result.get("error"), result.get("message"), result.get("error_detail")
    except RunCanceled:
        _logger.info("ops: run %s canceled while executing", run_id)
        return "canceled"
    except RunFailed as exc:
        exit_code, outcome, error, detail = exc.exit_code or 1, "failed", str(exc), exc.detail
    except Exception as exc:  # noqa: BLE001 - any crash fails the run with its reason
        _logger.exception("ops: run %s crashed", run_id)
        exit_code, outcome = 1, "failed"
        error = "Internal error: %s: %s" % (type(exc).__name__, exc)
        reporter.log("error", traceback.format_exc())
        reporter.flush()

    def complete(run):
        if run.state != "running":
            return run.state
        if message:
            run.append_run_log({"level": "error" if outcome == "failed" else "info", "message": message})
        run.complete_workflow_run(exit_code, error, worker_id, outcome)
        if detail and outcome == "failed":
            # The same failure as before joins its group (ops.build.error).
            run.env["ops.build.error"]._ops_record(run, detail)
        env = run.environment_id
        if exit_code and env.state == "building":
            env.write({"state": "running" if env.container_id else "failed"})
        return run.state

    return Run._ops_in_cursor(run_id, complete)

"""`odoo-bin ops-worker`: a dedicated worker that claims and executes runs.

    odoo-bin --addons-path=ADDONS ops-worker -c $OPS_CONF -d DB --worker-id host-1 [--concurrency N] [--once]

Runs on this host or on any other that reaches the same database and has
its own Docker engine. Claims with SKIP LOCKED, so many workers share one
queue safely. Idle slots wake when a run is queued (PostgreSQL NOTIFY,
services/queue_listener.py), and poll every --poll seconds besides. The
process says it is alive every 10 s (ops.worker): the cron fallback stays
out of its way, and a run it holds shows when it went quiet.
"""

import argparse
import logging
import signal
import socket
import sys
import threading

import odoo
from odoo import SUPERUSER_ID, api
from odoo.cli import Command
from odoo.modules.registry import Registry

from ..models.ops_worker import BEAT_SECONDS
from ..services.queue_listener import QueueListener

_logger = logging.getLogger("odoo.addons.ipai_ops_core.ops_worker")


def current_registry(dbname):
    """The registry as the other processes left it, taken as Odoo's own
    workers take it before each job: the caches they invalidated (a setting
    changed in the backend) are dropped, and a registry they reloaded (a
    module upgraded) is the one used. A long-lived process calls it before
    each unit of work, inside ``manage_changes()`` to signal its own."""
    return Registry(dbname).check_signaling()


class OpsWorker(Command):
    """Claim and execute ipai ops runs (builds, deploys, ...)"""

    name = "ops-worker"

    def run(self, args):
        parser = argparse.ArgumentParser(prog="odoo-bin ops-worker", description=self.__doc__)
        stop = threading.Event()
        parser.add_argument("--worker-id", default="%s" % socket.gethostname())
        parser.add_argument("--host", default="local", help="the ops.host this worker runs on (Docker endpoint, "
                                                               "slots); default: local")
        parser.add_argument("--concurrency", type=int, help="runs at once (default: the host's slots)")
        parser.add_argument("--kinds", help="comma-separated run kinds (default: all with an executor)")
        parser.add_argument("--projects", help="comma-separated project slugs (default: all): a worker per customer")
        parser.add_argument("--once", action="store_true", help="exit when the queue is empty")
        parser.add_argument("--poll", type=float, default=5.0, help="seconds between polls of an empty queue")
        parser.add_argument("--no-listen", action="store_true",
                            help="poll only, never woken by the queue (how workers waited before; for comparisons)")
        opts, odoo_args = parser.parse_known_args(args)
        odoo.tools.config.parse_config(odoo_args)
        dbname = odoo.tools.config["db_name"]
        if not dbname or "," in dbname:
            sys.exit("ops-worker: give exactly one database with -d")
        kinds = [k.strip() for k in opts.kinds.split(",")] if opts.kinds else None
        projects = [p.strip() for p in opts.projects.split(",")] if opts.projects else None
        registry = Registry(dbname)
        with registry.cursor() as cr:
            host = api.Environment(cr, SUPERUSER_ID, {})["ops.host"].search([("name", "=", opts.host)], limit=1)
            if not host:
                sys.exit("ops-worker: no ops.host named %r (Ops > Configuration > Docker hosts)" % opts.host)
            concurrency = opts.concurrency or host._ops_slots()

        count = max(1, concurrency)
        wakes = [threading.Event() for _ in range(count)]

        def wake():
            for event in wakes:
                event.set()

        def request_stop():
            stop.set()
            wake()  # idle slots stop waiting for work at once

        # From another thread: Event.set takes a lock the interrupted main thread may hold.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=request_stop).start())
        signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=request_stop).start())

        if not opts.once and not opts.no_listen:
            QueueListener(odoo.sql_db.connection_info_for(dbname)[1], wake, stop).start()

        def current():
            return current_registry(dbname)

        def beat(starting=False):
            with current().cursor() as cr:
                # Held in a name: a transaction flushes only the environments still alive at its commit.
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["ops.worker"]._ops_beat(
                    opts.worker_id, host=opts.host, slots=count, kinds=kinds, projects=projects, starting=starting)

        def beats():
            while not stop.wait(BEAT_SECONDS):
                try:
                    beat()
                except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                    _logger.exception("ops-worker %s: could not say it is alive", opts.worker_id)

        beat(starting=True)
        threading.Thread(target=beats, name="ops-worker-beat", daemon=True).start()

        def loop(index):
            worker_id = opts.worker_id if concurrency == 1 else "%s/%d" % (opts.worker_id, index)
            while not stop.is_set():
                try:
                    # What the run changed in the caches is signalled to the other processes (the backend).
                    with current().manage_changes() as fresh, fresh.cursor() as cr:
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        done = env["ops.run"]._ops_work(worker_id, kinds=kinds, max_runs=1, host=opts.host,
                                                        projects=projects)
                except Exception:  # noqa: BLE001 - a slot never dies: the run (if any) is reaped, the slot goes on
                    _logger.exception("ops-worker %s: a run could not be taken or recorded; the slot carries on",
                                      worker_id)
                    stop.wait(min(opts.poll, 5.0))
                    continue
                if not done:
                    if opts.once:
                        return
                    wakes[index].wait(opts.poll)
                    wakes[index].clear()

        finished = set()
        ended = threading.Event()  # a slot returned: --once exits as soon as the last one does

        def slot(index):
            loop(index)
            finished.add(index)  # a slot that returns is done (--once, or stopping)
            ended.set()

        def spawn(index):
            thread = threading.Thread(target=slot, args=(index,), name="ops-worker-%d" % index, daemon=True)
            thread.start()
            return thread

        _logger.info("ops-worker %s: %d slot(s) on %s", opts.worker_id, count, dbname)
        threads = {index: spawn(index) for index in range(count)}
        while len(finished) < count:
            for index, thread in list(threads.items()):
                if not thread.is_alive() and index not in finished and not stop.is_set():
                    # Never expected (every error is caught in the loop), but
                    # a lost slot would silently shrink the worker: replace it.
                    _logger.error("ops-worker %s: slot %d died; starting a new one", opts.worker_id, index)
                    threads[index] = spawn(index)
            if stop.is_set() and not any(t.is_alive() for t in threads.values()):
                break
            ended.wait(0.5)
            ended.clear()
        stop.set()
        wake()
        try:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})  # alive until the commit, which flushes it
                env["ops.worker"]._ops_stopped(opts.worker_id)
        except Exception:  # noqa: BLE001 - its last beat ages out by itself
            _logger.warning("ops-worker %s: could not record its stop", opts.worker_id)

"""`odoo-bin ops-workers`: the worker processes of one host, kept running.

    odoo-bin --addons-path=ADDONS ops-workers -c $OPS_CONF -d DB [--host local] [--slots N] [--worker-id PREFIX]
        [--kinds build,destroy] [--projects acme-erp,globex-web]

Starts one `odoo-bin ops-worker --concurrency 1` process per slot (the
host's slots: its capacity, or sized from its CPUs and memory; --slots
overrides), named <prefix>-1, <prefix>-2, ... (default prefix: the machine's
name). A process that dies (killed, out of memory) is started again within
a second or two; the run it held is requeued or failed by the reaper, as for
any lost worker. SIGTERM or SIGINT stops them all (SIGTERM, then SIGKILL
after --grace seconds): `make run` starts this next to the control plane and
stops it with it. A process per slot: one crash takes one slot, never the
others.
"""
# pylint: disable=print-used  # what an odoo-bin command prints is its output

import argparse
import logging
import signal
import socket
import subprocess
import sys
import time

import odoo
from odoo import SUPERUSER_ID, api
from odoo.cli import Command
from odoo.modules.registry import Registry

_logger = logging.getLogger("odoo.addons.ipai_ops_core.ops_workers")
RESTART_DELAY = 1.0  # seconds before a dead worker is started again (doubling while it keeps dying at once)


class OpsWorkers(Command):
    """Run and supervise this host's ipai ops worker processes"""

    name = "ops-workers"

    def run(self, args):
        parser = argparse.ArgumentParser(prog="odoo-bin ops-workers", description=self.__doc__)
        parser.add_argument("--host", default="local", help="the ops.host these workers run on; default: local")
        parser.add_argument("--slots", type=int, help="worker processes (default: the host's slots)")
        parser.add_argument("--worker-id", default=socket.gethostname(), help="prefix of the workers' ids")
        parser.add_argument("--kinds", help="comma-separated run kinds they take (default: all)")
        parser.add_argument("--projects", help="comma-separated project slugs they take (default: all)")
        parser.add_argument("--grace", type=float, default=30.0,
                            help="seconds a worker has to finish its run when stopped")
        opts, odoo_args = parser.parse_known_args(args)
        odoo.tools.config.parse_config(odoo_args)
        dbname = odoo.tools.config["db_name"]
        if not dbname or "," in dbname:
            sys.exit("ops-workers: give exactly one database with -d")
        slots = _register(dbname, opts)
        # odoo-bin and what came before this command (--addons-path: Odoo finds an addon's command only then).
        position = sys.argv.index(self.name) if self.name in sys.argv else 1
        prefix = [sys.executable, *sys.argv[:position]]
        # A plain flag: a handler taking a lock (Event.set) deadlocks when a
        # second signal lands while the main thread holds it.
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

        narrow = [*(["--kinds", opts.kinds] if opts.kinds else []), *(["--projects", opts.projects] if opts.projects
                                                                       else [])]

        def command(index):
            return [*prefix, "ops-worker", *odoo_args, "--host", opts.host, "--concurrency", "1",
                    "--worker-id", "%s-%d" % (opts.worker_id, index), *narrow]

        procs, delays, started = {}, {}, {}
        print("ops-workers: %d worker process(es) for host %s on %s" % (slots, opts.host, dbname), flush=True)
        while not stopping:
            for index in range(1, slots + 1):
                proc = procs.get(index)
                if proc is not None and proc.poll() is None:
                    continue
                if proc is not None:
                    lived = time.monotonic() - started[index]
                    delays[index] = min(30.0, delays.get(index, RESTART_DELAY) * 2) if lived < 10 else RESTART_DELAY
                    _logger.warning("ops-workers: %s-%d exited (%s) after %.0f s; starting it again in %.0f s",
                                    opts.worker_id, index, _status(proc.returncode), lived, delays[index])
                    print("ops-workers: %s-%d exited (%s); starting it again" % (
                        opts.worker_id, index, _status(proc.returncode)), flush=True)
                    procs[index] = None
                    started[index] = time.monotonic() + delays[index]  # not before
                    continue
                if started.get(index, 0) > time.monotonic():
                    continue
                procs[index] = subprocess.Popen(command(index))
                started[index] = time.monotonic()
                print("ops-workers: %s-%d started (pid %d)" % (opts.worker_id, index, procs[index].pid), flush=True)
            time.sleep(0.5)
        live = [proc for proc in procs.values() if proc is not None and proc.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + opts.grace
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print("ops-workers: stopped", flush=True)


def _register(dbname, opts):
    """The host's slots (or --slots), each registered as a worker at once:
    before the processes have loaded Odoo (a few seconds), the control
    plane's cron fallback takes no run. Each process's own first beat takes
    over its record."""
    with Registry(dbname).cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        host = env["ops.host"].search([("name", "=", opts.host)], limit=1)
        if not host:
            sys.exit("ops-workers: no ops.host named %r (Ops > Configuration > Docker hosts)" % opts.host)
        slots = opts.slots or host._ops_slots()
        for index in range(1, slots + 1):
            env["ops.worker"]._ops_beat("%s-%d" % (opts.worker_id, index), host=opts.host, slots=1, starting=True,
                                        kinds=_split(opts.kinds), projects=_split(opts.projects))
    return slots


def _split(value):
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


def _status(code):
    return "killed by signal %d" % -code if code is not None and code < 0 else "exit code %s" % code

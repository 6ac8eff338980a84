#!/usr/bin/env python3
"""Swarm units vs plain containers: how long a unit takes to serve, how
long a redeploy takes and whether a visitor notices it, and how long a
node takes to drain, on the swarm backend (services/swarm_engine.py,
services/swarm_gateway.py) with the plain engine as the baseline, in the
same run.

The lab (scripts/swarm-lab.sh up 2: two engines of their own in network
namespaces, a manager m1 and a worker w1) runs the swarm side; the
machine's own engine runs the baseline. Both run the same unit: Odoo 18's
server from the runtime image (ipai-ops/odoo:18.0), no database, healthy
when /web/health answers 200 (Swarm's health check every 0.5 s; the
baseline polled every 0.5 s from the host).

  deploy     baseline  a container on a bridge network until /web/health
                       answers on its address;
             swarm     a service pinned to m1 on an overlay of its own until
                       Swarm has it healthy, the gateway's doors opened, and
                       /web/health answers through the environment's socket.
  redeploy   baseline  a new container next to the old one until healthy,
                       the old one removed (the front door's switch is
                       bench/serving.py's);
             swarm     a new service next to the old one, the gateway
                       switched, the old one removed; a visitor GETs
                       /web/health through the socket every 50 ms across
                       --redeploys of them: failed requests (goal 0).
  image copy a build's image (an addon on the runtime image) to w1, which
             has the runtime: whole (docker save | docker load, baseline)
             and without the layers w1 has (services/image_copy.py).
  drain      three units pinned on w1 move to m1 (each: a new unit on m1,
             the switch, the old one removed; one after the other), a visitor
             on each: the time to an empty w1 and failed requests. Units
             here have no filestore: copying one is a platform step
             (executors) and not measured here.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/swarm_units.py'
Prints a table and a JSON line. Leaves nothing: the lab is taken down.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import swarm_lab  # noqa: E402 - the lab's commands
from backup_restore import odoo_setup  # noqa: E402

IMAGE = swarm_lab.RUNTIME_IMAGE
PLANE = "swarmbench"
POOL = "10.254.0.0/16"
SERVE = ["--http-interface", "0.0.0.0", "--http-port", "8069", "--max-cron-threads", "0", "--db_host", "127.0.0.9"]
HEALTH = {"test": ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen("
                   "'http://127.0.0.1:8069/web/health', timeout=3)"], "interval": 0.5, "timeout": 3, "retries": 3}


def get(path, timeout=5):
    """GET /web/health over a unix socket: the status code."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(b"GET /web/health HTTP/1.0\r\nHost: bench\r\n\r\n")
        head = sock.recv(64)
    return int(head.split()[1]) if head.startswith(b"HTTP/") else 0


class Visitor(threading.Thread):
    def __init__(self, path, every=0.05):
        super().__init__(daemon=True)
        self.path, self.every, self.stop = path, every, threading.Event()
        self.ok, self.failed = 0, []

    def run(self):
        while not self.stop.is_set():
            try:
                code = get(self.path)
                if code == 200:
                    self.ok += 1
                else:
                    self.failed.append(code)
            except OSError as exc:
                self.failed.append(repr(exc))
            self.stop.wait(self.every)

    def done(self):
        self.stop.set()
        self.join(10)
        return self.ok, self.failed


def median(values):
    return round(statistics.median(values), 2) if values else None


class Bench:
    """The lab's swarm, the machine's engine, the gateway, and the figures."""

    def __init__(self, args, engines, doors):
        from odoo.addons.ipai_ops_core.services import (  # noqa: PLC0415 -- once on the path
            env_network,
            http_health,
            runtime,
            swarm_gateway,
        )

        self.env_network, self.http_health, self.runtime, self.swarm_gateway = (
            env_network, http_health, runtime, swarm_gateway)
        self.args, self.engines, self.doors, self.results = args, engines, doors, {}
        self.local = runtime.connect(timeout=900)
        self.manager = runtime.connect(engines[0][0], kind="swarm", timeout=900)
        self.worker = runtime.connect(engines[1][0], kind="swarm", timeout=900)

    def labels(self, env_id):
        return self.runtime.labels_for(PLANE, project="bench", environment=env_id)

    def network(self, env_id):
        return self.env_network.ensure(self.manager, PLANE, self.env_network.ISOLATED, env_id, "bench", pool=POOL)

    def setup(self):
        manager, worker, engines = self.manager, self.worker, self.engines
        manager.init_swarm(engines[0][1], address_pool="10.252.0.0/16")
        token, address = manager.join_token()
        worker.join(address, token, engines[1][1])
        manager.name_node("ipai-sw1", "m1")
        manager.name_node("ipai-sw2", "w1")
        started = time.monotonic()
        self.local.copy_image(IMAGE, manager)
        manager.copy_image(IMAGE, worker)
        self.results["image_copy_s"] = round((time.monotonic() - started) / 2, 1)
        self.code_image_copy()
        self.gateway = self.swarm_gateway.Gateway(manager, PLANE, IMAGE, self.doors)
        self.docker_net = self.env_network.ensure(self.local, PLANE, self.env_network.ISOLATED, 1, "bench")
        self.slots = [self.env_network.address(self.docker_net["subnet"], n) for n in (2, 3)]

    def code_image_copy(self):
        """A build's image (an addon on the runtime) to a node that has the
        runtime: sent whole (docker save | docker load, the baseline), then
        without the layers the node has (what the platform does)."""
        with tempfile.TemporaryDirectory(prefix="ipai-swarm-bench-code-") as context:
            os.makedirs(os.path.join(context, "bench_addon"))
            with open(os.path.join(context, "bench_addon", "__init__.py"), "w", encoding="utf-8") as handle:
                handle.write("# a branch's code\n" * 2000)
            with open(os.path.join(context, "Dockerfile"), "w", encoding="utf-8") as handle:
                handle.write("FROM %s\nCOPY bench_addon /mnt/extra-addons/bench_addon\n" % IMAGE)
            code = self.manager.build(context, "ipai-ops/bench-code:1")
        figures = {}
        for how, whole in (("whole", True), ("without_node_layers", False)):
            self.worker.remove_image(code)
            started = time.monotonic()
            sent = self.manager.copy_image(code, self.worker, whole=whole)
            figures[how + "_s"] = round(time.monotonic() - started, 1)
            figures[how + "_mb"] = round(sent["sent"] / 1e6, 1)
        figures["ratio"] = round(figures["without_node_layers_s"] / figures["whole_s"], 3)
        self.results["code_image_copy"] = figures
        self.worker.remove_image(code)
        self.manager.remove_image(code)

    def _base_start(self, name, ip):
        self.local.start(IMAGE, SERVE, name, self.labels(1), network=self.docker_net["name"], ip=ip)
        self.http_health.wait_until_healthy("http://%s:8069" % ip, "/web/health", timeout=120, interval=0.5)

    def deploy(self):
        base, swarm = [], []
        for n in range(self.args.deploys):
            t0 = time.monotonic()
            self._base_start("swb-base-%d" % n, self.slots[0])
            base.append(time.monotonic() - t0)
            self.local.remove_container("swb-base-%d" % n)
            net, unit, key = self.network(10 + n), "swb-unit-%d" % n, "e%d" % (10 + n)
            t0 = time.monotonic()
            self.manager.start(IMAGE, SERVE, unit, self.labels(10 + n), network=net["name"], node="m1",
                               healthcheck=HEALTH)
            assert get(self.gateway.open(key, net, unit)["http"]) == 200
            swarm.append(time.monotonic() - t0)
            self.gateway.close(key, net["name"])
            self.manager.remove_container(unit)
            self.manager.remove_network(net["name"])
        self.results["deploy"] = {"docker_s": median(base), "swarm_s": median(swarm),
                                  "ratio": round(median(swarm) / median(base), 2)}

    def redeploy(self):
        base, previous = [], "swb-base-r0"
        self._base_start(previous, self.slots[0])
        for n in range(1, self.args.deploys + 1):
            t0 = time.monotonic()
            self._base_start("swb-base-r%d" % n, self.slots[n % 2])
            base.append(time.monotonic() - t0)
            self.local.remove_container(previous)
            previous = "swb-base-r%d" % n
        self.local.remove_container(previous)
        net, previous = self.network(20), "swb-r0"
        self.manager.start(IMAGE, SERVE, previous, self.labels(20), network=net["name"], node="m1",
                           healthcheck=HEALTH)
        visitor = Visitor(self.gateway.open("e20", net, previous)["http"])
        visitor.start()
        switched, gone = [], []
        for n in range(1, self.args.redeploys + 1):
            t0 = time.monotonic()
            unit = "swb-r%d" % n
            self.manager.start(IMAGE, SERVE, unit, self.labels(20), network=net["name"], node="m1",
                               healthcheck=HEALTH)
            self.gateway.switch("e20", unit)
            switched.append(time.monotonic() - t0)
            self.manager.remove_container(previous)
            gone.append(time.monotonic() - t0)
            previous = unit
        ok, failed = visitor.done()
        self.gateway.close("e20", net["name"])
        self.manager.remove_container(previous)
        self.manager.remove_network(net["name"])
        self.results["redeploy"] = {
            "docker_s": median(base), "swarm_s": median(switched), "ratio": round(median(switched) / median(base), 2),
            "swarm_old_gone_s": median(gone), "swarm_redeploys": self.args.redeploys,
            "requests": ok + len(failed), "failed_requests": len(failed), "failures": failed[:5]}

    def _move(self, units, env_id, errors):
        try:
            net, old = units[env_id]
            new = "swb-d%d-b" % env_id
            self.manager.start(IMAGE, SERVE, new, self.labels(env_id), network=net["name"], node="m1",
                               healthcheck=HEALTH)
            self.gateway.switch("e%d" % env_id, new)
            self.manager.remove_container(old)
            units[env_id] = (net, new)
        except Exception as exc:  # noqa: BLE001 - reported in the figures
            errors.append("%s: %s" % (env_id, exc))

    def drain(self):
        units, visitors = {}, {}
        for env_id in (31, 32, 33):
            net, unit = self.network(env_id), "swb-d%d-a" % env_id
            self.manager.start(IMAGE, SERVE, unit, self.labels(env_id), network=net["name"], node="w1",
                               healthcheck=HEALTH)
            assert self.manager.container(unit)["node"] == "ipai-sw2"
            units[env_id] = (net, unit)
            visitors[env_id] = Visitor(self.gateway.open("e%d" % env_id, net, unit)["http"])
            visitors[env_id].start()
        errors = []
        self.manager.set_availability("w1", "pause")  # takes nothing new while it empties
        t0 = time.monotonic()
        for env_id in list(units):  # one at a time, as a drain of the platform moves them
            self._move(units, env_id, errors)
        seconds = time.monotonic() - t0
        self.manager.set_availability("w1", "drain")
        answered = [v.done() for v in visitors.values()]
        self.results["drain"] = {
            "units": len(units), "seconds": round(seconds, 1), "errors": errors,
            "requests": sum(ok + len(failed) for ok, failed in answered),
            "failed_requests": sum(len(failed) for _ok, failed in answered),
            "left_on_drained_node": [u for _n, u in units.values() if self.manager.container(u)["node"] == "ipai-sw2"]}
        for env_id, (net, unit) in units.items():
            self.gateway.close("e%d" % env_id, net["name"])
            self.manager.remove_container(unit)
            self.manager.remove_network(net["name"])

    def teardown(self):
        self.gateway.remove()
        self.local.remove_network(self.docker_net["name"])


def report(results):
    print("%-10s %10s %10s %7s" % ("", "docker s", "swarm s", "ratio"))
    for key in ("deploy", "redeploy"):
        print("%-10s %10.2f %10.2f %7.2f" % (key, results[key]["docker_s"], results[key]["swarm_s"],
                                             results[key]["ratio"]))
    print("swarm redeploys: %(swarm_redeploys)d, %(requests)d requests, %(failed_requests)d failed; the old unit "
          "gone after %(swarm_old_gone_s).2f s" % results["redeploy"])
    print("drain of %(units)d units: %(seconds).1f s, %(requests)d requests, %(failed_requests)d failed, "
          "left on the node: %(left_on_drained_node)s, errors: %(errors)s" % results["drain"])
    print("image copied engine to engine: %.1f s" % results["image_copy_s"])
    code = results["code_image_copy"]
    print("a build's image to a node that has the runtime: whole %.1f s (%.1f MB), without the node's layers %.1f s "
          "(%.1f MB), ratio %.3f" % (code["whole_s"], code["whole_mb"], code["without_node_layers_s"],
                                     code["without_node_layers_mb"], code["ratio"]))
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploys", type=int, default=3)
    parser.add_argument("--redeploys", type=int, default=10)
    args = parser.parse_args()
    odoo_setup()
    engines = swarm_lab.command("up", "2")
    try:
        bench = Bench(args, engines, tempfile.mkdtemp(prefix="ipai-swarm-bench-"))
        bench.setup()
        bench.deploy()
        bench.redeploy()
        bench.drain()
        bench.teardown()
    finally:
        swarm_lab.command("down")
    report(bench.results)


if __name__ == "__main__":
    main()

import os
import shutil
import tempfile
import time

import docker
from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..services import cgroup, collector, filestore_size, request_log

DATA = os.path.join(os.path.dirname(__file__), "data")


def line(second, path, status, queries, sql, rest, ms=0, minute=0):
    return ('2026-11-26 08:%02d:%02d,%03d 9 INFO db werkzeug: 127.0.0.1 - - [26/Nov/2026 08:%02d:%02d] '
            '"GET %s HTTP/1.0" %s - %d %.3f %.3f' % (minute, second, ms, minute, second, path, status, queries, sql,
                                                    rest))


@tagged("post_install", "-at_install", "ipai_ops")
class TestCgroup(BaseCase):
    def test_v2_systemd_and_cgroupfs_layouts(self):
        root = os.path.join(DATA, "cgroup_v2")
        found = cgroup.read("abc123", root)
        self.assertEqual(found["layout"], "v2")
        self.assertEqual(found["memory_bytes"], 734003200 - 52428800, "usage less the inactive file cache")
        self.assertEqual(found["memory_limit_bytes"], 1073741824)
        self.assertEqual(found["oom_kills"], 2)
        self.assertEqual(found["cpu_ns"], 8235712000)
        self.assertEqual(found["pids"], [4242, 4243])
        unlimited = cgroup.read("def456", root)
        self.assertEqual((unlimited["memory_limit_bytes"], unlimited["cpu_ns"]), (None, 10000))
        self.assertIsNone(cgroup.read("nope", root))

    def test_v1_of_a_real_container(self):
        """This machine runs cgroup v1 with Docker's cgroupfs driver: a real
        container's own files."""
        client = docker.from_env()
        container = client.containers.run("ipai-ops/odoo:18.0", ["sleep", "30"], entrypoint=[], detach=True,
                                          mem_limit="256m", labels={"ipai-ops.test": "cgroup"})
        try:
            found = cgroup.read(container.id)
            # No cgroup found is the failure this test is for (the collector would record nothing).
            self.assertIsNotNone(found, "no cgroup of container %s under %s" % (container.id[:12], cgroup.ROOT))
            self.assertEqual(found["memory_limit_bytes"], 256 * 1024 * 1024)
            self.assertGreater(found["memory_bytes"], 0)
            self.assertGreater(found["cpu_ns"], 0)
            processes = cgroup.processes(found["pids"])
            self.assertTrue(processes and all(role == "other" for role, _ns in processes.values()), processes)
        finally:
            container.remove(force=True)

    def test_an_engine_with_a_cgroup_parent_of_its_own_is_read_through_the_pid(self):
        """A swarm node's engine may put its containers under a parent of its
        own (dockerd --cgroup-parent, as the swarm lab does): found through
        the container's first process; a pid that is not the container's
        finds nothing."""
        client = docker.from_env()
        container = client.containers.run("ipai-ops/odoo:18.0", ["sleep", "30"], entrypoint=[], detach=True,
                                          mem_limit="192m", cgroup_parent="/ipai-ops-test-parent",
                                          labels={"ipai-ops.test": "cgroup"})
        try:
            pid = client.api.inspect_container(container.id)["State"]["Pid"]
            self.assertIsNone(cgroup.read(container.id), "not where Docker puts its containers by default")
            found = cgroup.read(container.id, pid=pid)
            self.assertIsNotNone(found, "no cgroup of container %s through pid %s" % (container.id[:12], pid))
            self.assertEqual(found["memory_limit_bytes"], 192 * 1024 * 1024)
            self.assertIn(pid, found["pids"])
            self.assertIsNone(cgroup.read(container.id, pid=os.getpid()), "this process is not the container's")
        finally:
            container.remove(force=True)

    def test_a_container_on_another_machine_is_read_through_its_engine(self):
        """A unit on another machine of a swarm has no cgroup here: its own
        engine's figures (what a node's Docker endpoint answers) match what
        its cgroup says, and the collector turns them into the same
        resources, without the CPU split or an OOM count it cannot know."""
        from odoo.addons.ipai_ops_core.services import runtime  # noqa: PLC0415 - the engine of ipai_ops_core

        client, engine = docker.from_env(), runtime.connect(timeout=60)
        container = client.containers.run("ipai-ops/odoo:18.0", ["python3", "-c", "x = bytearray(40 << 20); "
                                          "sum(i * i for i in range(3_000_000)); import time; time.sleep(30)"],
                                          entrypoint=[], detach=True, mem_limit="160m",
                                          labels={"ipai-ops.test": "cgroup"})
        try:
            local, deadline = None, time.monotonic() + 20
            while time.monotonic() < deadline and (local is None or local["memory_bytes"] < 40 << 20):
                time.sleep(0.2)
                local = cgroup.read(container.id)
            self.assertIsNotNone(local, "no cgroup of running container %s: %s" % (
                container.id[:12], client.api.inspect_container(container.id)["State"]))
            remote = engine.stats(container.id)
            self.assertIsNotNone(remote, "no figures of a running container from its engine")
            self.assertEqual(remote["memory_limit_bytes"], 160 * 1024 * 1024)
            self.assertGreater(remote["memory_bytes"], 40 << 20, "the 40 MB it holds")
            self.assertLess(abs(remote["memory_bytes"] - local["memory_bytes"]), 8 << 20, (remote, local))
            self.assertGreaterEqual(remote["cpu_ns"], local["cpu_ns"] * 0.9, (remote, local))
            self.assertIsNone(remote["oom_kills"], "the engine does not count OOM kills")
            first = collector.collect({}, container.id, None, None, None, None, None, now=1000.0, reading=remote)
            later = dict(remote, cpu_ns=remote["cpu_ns"] + 500_000_000)
            second = collector.collect(first["state"], container.id, None, None, None, None, None, now=1010.0,
                                       reading=later)["resources"]
            self.assertEqual((second["mem_bytes"], second["mem_limit_bytes"], second["cpu_pct"]),
                             (remote["memory_bytes"], 160 * 1024 * 1024, 5.0))
            self.assertFalse({"cpu_http_pct", "oom_kills"} & set(second), second)
            unlimited = client.containers.run("ipai-ops/odoo:18.0", ["sleep", "30"], entrypoint=[], detach=True,
                                              labels={"ipai-ops.test": "cgroup"})
            self.addCleanup(unlimited.remove, force=True)
            free = engine.stats(unlimited.id)
            self.assertIsNotNone(free, "no figures of a running container from its engine")
            self.assertIsNone(free["memory_limit_bytes"], "no limit of its own")
            container.stop(timeout=0)
            self.assertIsNone(engine.stats(container.id), "a stopped container has no figures")
        finally:
            container.remove(force=True)

    def test_cpu_split_by_worker_title(self):
        proc = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, proc)
        ticks = cgroup.CLOCK_TICKS
        for pid, title, used in ((10, "odoo: WorkerHTTP 10", 3 * ticks), (11, "odoo: WorkerCron 11", ticks),
                                 (12, "/usr/bin/python3 /usr/bin/odoo", 2 * ticks)):
            os.makedirs(os.path.join(proc, str(pid)))
            with open(os.path.join(proc, str(pid), "cmdline"), "w") as handle:
                handle.write(title.replace(" ", "\0"))
            with open(os.path.join(proc, str(pid), "stat"), "w") as handle:
                handle.write("%d (odoo) S 1 1 1 0 -1 0 0 0 0 0 %d 0 0 0 20 0 1 0 0 0 0" % (pid, used))
        now = cgroup.processes([10, 11, 12, 99], proc)
        self.assertEqual({pid: role for pid, (role, _ns) in now.items()}, {10: "http", 11: "cron", 12: "other"})
        before = {"10": ["http", 1_000_000_000], "11": ["cron", 0], "12": ["other", 2_000_000_000]}
        self.assertEqual(cgroup.cpu_split(before, now), {"http": 2_000_000_000, "cron": 1_000_000_000, "other": 0})


@tagged("post_install", "-at_install", "ipai_ops")
class TestRequestLog(BaseCase):
    def test_minutes_from_odoo_request_lines(self):
        minutes = request_log.Minutes()
        for second in range(10):
            minutes.feed(line(second, "/web/login", 200, 4, 0.002, 0.008, ms=500))
        minutes.feed(line(20, "/odoo/action-123/45", 404, 1, 0.001, 0.001))
        minutes.feed(line(21, "/web/dataset/call_kw", 500, 40, 0.300, 0.100))
        minutes.feed(line(22, "/web/health", 200, 0, 0.0, 0.001))  # the platform's own probe
        minutes.feed("2026-11-26 08:00:23,000 9 INFO db werkzeug: something else entirely")
        minutes.feed("2026-11-26 08:00:24,000 9 INFO db odoo.modules.loading: not a request")
        minutes.feed(line(5, "/web/login", 302, 2, 0.001, 0.001, minute=1))
        figures = request_log.Minutes.figures(minutes)
        first = figures[1795680000]
        self.assertEqual((first["requests"], first["req_2xx"], first["req_4xx"], first["req_5xx"]), (12, 10, 1, 1))
        self.assertEqual(first["unparsed"], 1)
        self.assertEqual(first["p50_ms"], 10.0)
        self.assertEqual(first["p99_ms"], 400.0)
        self.assertEqual(first["routes"][0], {"route": "/web/dataset/call_kw", "max_ms": 400.0, "count": 1})
        self.assertIn("/odoo/action-:id/:id", [r["route"] for r in first["routes"]])
        self.assertAlmostEqual(first["sql_share"], (10 * 0.002 + 0.001 + 0.3) / (10 * 0.01 + 0.002 + 0.4), 3)
        self.assertEqual(first["queries_per_request"], round((40 + 40 + 1) / 12, 2))
        self.assertEqual(figures[1795680060]["req_3xx"], 1)

    def test_concurrency_counts_overlapping_requests(self):
        minutes = request_log.Minutes()
        # three requests ending at :10.000, :10.100, :10.200 that each took 0.5 s overlap; one at :30 alone
        for ms in (0, 100, 200):
            minutes.feed(line(10, "/a", 200, 1, 0.0, 0.5, ms=ms))
        minutes.feed(line(30, "/b", 200, 1, 0.0, 0.1))
        self.assertEqual(minutes.figures()[1795680000]["concurrency"], 3)

    def test_back_to_back_requests_are_one_at_a_time(self):
        minutes = request_log.Minutes()
        # one client: each request logged when it ends, its duration rounded up to the next line's time
        for ms in (10, 25, 40, 55):
            minutes.feed(line(10, "/a", 200, 1, 0.0, 0.016, ms=ms))
        self.assertEqual(minutes.figures()[1795680000]["concurrency"], 1)
        minutes.feed(line(10, "/b", 200, 1, 0.0, 0.010, ms=57))  # started 8 ms before /a ended
        self.assertEqual(minutes.figures()[1795680000]["concurrency"], 2)


@tagged("post_install", "-at_install", "ipai_ops")
class TestFilestoreSize(BaseCase):
    def test_only_changed_directories_are_walked_again(self):
        root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, root)
        for folder, size in (("ab", 100), ("cd", 50)):
            os.makedirs(os.path.join(root, folder))
            with open(os.path.join(root, folder, "f" * 40), "wb") as handle:
                handle.write(b"x" * size)
        total, cache = filestore_size.measure(root)
        self.assertEqual(total, 150)
        walked = []
        real_walk = filestore_size.tree_size
        filestore_size.tree_size = lambda path: walked.append(os.path.basename(path)) or real_walk(path)
        self.addCleanup(setattr, filestore_size, "tree_size", real_walk)
        with open(os.path.join(root, "cd", "e" * 40), "wb") as handle:
            handle.write(b"y" * 25)
        os.utime(os.path.join(root, "cd"), ns=(1, 1))  # a new mtime, whatever the clock's resolution
        total, cache = filestore_size.measure(root, cache)
        self.assertEqual((total, walked), (175, ["cd"]))
        self.assertEqual(filestore_size.measure(os.path.join(root, "missing")), (0, {}))


@tagged("post_install", "-at_install", "ipai_ops")
class TestSizing(BaseCase):
    def test_a_hint_from_what_ran(self):
        from ..services import sizing

        quiet = [{"requests": 5, "concurrency": 1, "mem_bytes": 400 * sizing.MB, "cpu_cron_pct": 2}] * 59
        self.assertNotIn("workers", sizing.hint(quiet, 2, 1), "an hour of traffic first")
        busy = quiet + [{"requests": 50, "concurrency": 6, "mem_bytes": 1200 * sizing.MB, "cpu_cron_pct": 80}] * 20
        found = sizing.hint(busy, 2, 1)
        # p95 of concurrency over 79 busy minutes is 6: ceil(6 * 1.25) + 1 = 9 workers
        self.assertEqual((found["workers"], found["cron_threads"]), (9, 2))
        # 1200 MB over 5 processes = 240 MB each: soft max(512, 360 -> 384) = 512, hard 640
        self.assertEqual((found["limit_memory_soft_mb"], found["limit_memory_hard_mb"]), (512, 640))
        # 240 MB x (9 + 2 + 2) x 1.3 = 4056 MB -> 4096
        self.assertEqual(found["container_memory_mb"], 4096)
        self.assertIn("9 HTTP workers (now 2)", found["reasons"][0])


@tagged("post_install", "-at_install", "ipai_ops")
class TestRegression(BaseCase):
    def test_a_route_markedly_worse_after_a_deploy(self):
        from ..services import regression

        before = [line(s % 60, "/shop/cart", 200, 10, 0.005, 0.015) for s in range(20)]
        before += [line(s % 60, "/web/login", 200, 4, 0.001, 0.004) for s in range(20)]
        after = [line(s % 60, "/shop/cart", 200 if s % 4 else 500, 40, 0.100, 0.300, minute=2) for s in range(20)]
        after += [line(s % 60, "/web/login", 200, 4, 0.001, 0.005, minute=2) for s in range(20)]
        after += [line(1, "/new/route", 200, 1, 0.0, 0.001, minute=2)]
        report = regression.compare(before, after)
        self.assertEqual(report["worse"], ["/shop/cart"])
        cart = report["routes"][0]
        self.assertEqual(cart["route"], "/shop/cart")
        self.assertEqual(cart["worse"], ["p95 20 -> 400 ms", "5xx 0.0% -> 25.0%", "queries per request 10.0 -> 40.0"])
        self.assertEqual(report["only_after"], ["/new/route"])
        self.assertEqual(regression.compare(before, before)["worse"], [])

"""The collector's part of bench/monitoring.py: --containers lightweight
containers of ipai-ops/odoo:18.0 (a memory limit, --procs processes of
`sleep infinity`, no network) read by ours (services/cgroup.py: read() plus
processes() of each container) and by the docker SDK's
container.stats(stream=False); CPU per collection of this process and of the
daemons (dockerd, containerd with its shims), and wall time.
"""

import os
import sys
import time

import docker

IMAGE = "ipai-ops/odoo:18.0"
LABEL = ("ipai-ops.bench", "monitoring")
CLK = os.sysconf("SC_CLK_TCK")


def daemon_cpu():
    """CPU seconds used so far by dockerd and by containerd (with every containerd-shim)."""
    totals = {"dockerd": 0.0, "containerd": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as handle:
                stat = handle.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        key = "dockerd" if comm == "dockerd" else "containerd" if comm.startswith("containerd") else None
        if key:
            fields = stat[stat.rindex(")") + 2:].split()
            totals[key] += (int(fields[11]) + int(fields[12])) / CLK
    return totals


def remove_containers(client):
    for container in client.containers.list(all=True, filters={"label": "%s=%s" % LABEL}):
        container.remove(force=True)


def start_containers(client, count, procs, mem):
    cmd = ["sleep", "infinity"] if procs <= 1 else [
        "sh", "-c", "for i in $(seq %d); do sleep infinity & done; wait" % (procs - 1)]
    return [client.containers.run(IMAGE, entrypoint=cmd, detach=True, labels=dict([LABEL]), mem_limit=mem,
                                  network_mode="none", name="ipai-ops-bench-mon-%02d" % i) for i in range(count)]


def phase(rounds, collect):
    """Run collect() ``rounds`` times: per collection CPU of this process and of the daemons, and wall time."""
    daemons, cpu, wall = daemon_cpu(), time.process_time(), time.perf_counter()
    for _ in range(rounds):
        collect()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = daemon_cpu()
    row = {"rounds": rounds, "wall_s": wall / rounds, "self_cpu_s": cpu / rounds,
           "dockerd_cpu_s": (after["dockerd"] - daemons["dockerd"]) / rounds,
           "containerd_cpu_s": (after["containerd"] - daemons["containerd"]) / rounds}
    row["total_cpu_s"] = row["self_cpu_s"] + row["dockerd_cpu_s"] + row["containerd_cpu_s"]
    row["core_pct_once_a_minute"] = row["total_cpu_s"] / 60 * 100
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def bench_collector(args):
    from odoo.addons.ipai_ops_monitoring.services import cgroup

    client = docker.from_env(timeout=120)
    remove_containers(client)
    try:
        containers = start_containers(client, args.containers, args.procs, args.mem)
        ids = [c.id for c in containers]
        deadline = time.monotonic() + 30
        while any(len((cgroup.read(i) or {}).get("pids", ())) < args.procs for i in ids):
            if time.monotonic() > deadline:
                sys.exit("the containers' cgroups do not show %d processes each" % args.procs)
            time.sleep(0.2)
        layout = cgroup.read(ids[0])["layout"]

        def ours():
            for container_id in ids:
                reading = cgroup.read(container_id)
                assert reading and len(cgroup.processes(reading["pids"])) == args.procs

        def baseline():
            for container in containers:
                assert container.stats(stream=False)["memory_stats"]["usage"] > 0

        ours()  # warm both paths (imports, connections)
        baseline()
        rows = {"ours": phase(args.rounds, ours), "baseline": phase(args.baseline_rounds, baseline)}
    finally:
        remove_containers(client)
    rows["ratio_cpu"] = round(rows["ours"]["total_cpu_s"] / rows["baseline"]["total_cpu_s"], 5)
    return dict(rows, containers=args.containers, procs=args.procs, layout=layout)

"""CPU and memory of a container straight from its cgroup files, the way
odoo/runbot reads them (no ``docker stats`` polling: one read of a few small
files per container).

Both layouts are read:
- cgroup v1 (this machine and CI; Docker's cgroupfs driver):
  ``memory/docker/<id>/memory.usage_in_bytes``, ``memory.limit_in_bytes``,
  ``memory.oom_control`` (``oom_kill``), ``memory.stat``;
  ``cpuacct/docker/<id>/cpuacct.usage`` (ns); or the same under
  ``system.slice/docker-<id>.scope`` (systemd driver).
- cgroup v2 (current distributions): ``docker/<id>`` or
  ``system.slice/docker-<id>.scope`` with ``memory.current``, ``memory.max``,
  ``memory.events`` (``oom_kill``), ``memory.stat``, ``cpu.stat``
  (``usage_usec``).

Memory "used" is what Docker shows: usage less the inactive file cache.
CPU is a cumulative counter; the collector turns two readings into a share
of one core. With Odoo's workers, CPU is split by process title (``odoo:
WorkerHTTP``, ``odoo: WorkerCron``) from /proc.
"""

import os

ROOT = "/sys/fs/cgroup"
UNLIMITED = 1 << 62  # v1 reports "no limit" as a page-rounded 2^63


def _read(path):
    with open(path) as handle:
        return handle.read()


def _keyed(path):
    values = {}
    for line in _read(path).splitlines():
        key, _sep, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def _of_process(container_id, pid, root, proc):
    """The cgroup directories of process ``pid`` (a container's first
    process), as /proc/PID/cgroup names them: any driver, any parent (an
    engine started with --cgroup-parent). None unless they are the
    container's (a pid reused by another process)."""
    try:
        lines = _read(os.path.join(proc, str(int(pid)), "cgroup")).splitlines()
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        return None
    paths = {}
    for line in lines:
        _number, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    if paths.get("") and container_id in paths[""] and os.path.exists(
            os.path.join(root, paths[""].lstrip("/"), "memory.current")):
        return "v2", {"unified": os.path.join(root, paths[""].lstrip("/"))}
    memory, cpu = paths.get("memory"), paths.get("cpuacct")
    if memory and cpu and container_id in memory:
        cpu_dir = os.path.join(root, "cpuacct", cpu.lstrip("/"))
        if not os.path.isdir(cpu_dir):
            cpu_dir = os.path.join(root, "cpu,cpuacct", cpu.lstrip("/"))
        return "v1", {"memory": os.path.join(root, "memory", memory.lstrip("/")), "cpu": cpu_dir}
    return None


def locate(container_id, root=ROOT, pid=None, proc="/proc"):
    """("v1", {"memory": dir, "cpu": dir}) or ("v2", {"unified": dir}) or
    None. Docker's own layouts first; else, given the container's first
    process ``pid``, where that process's cgroup is."""
    if pid:
        found = _of_process(container_id, pid, root, proc)
        if found:
            return found
    for relative in ("docker/%s" % container_id, "system.slice/docker-%s.scope" % container_id):
        unified = os.path.join(root, relative)
        if os.path.exists(os.path.join(unified, "memory.current")):
            return "v2", {"unified": unified}
        memory = os.path.join(root, "memory", relative)
        if os.path.exists(os.path.join(memory, "memory.usage_in_bytes")):
            cpu = os.path.join(root, "cpuacct", relative)
            if not os.path.isdir(cpu):
                cpu = os.path.join(root, "cpu,cpuacct", relative)
            return "v1", {"memory": memory, "cpu": cpu}
    return None


def read(container_id, root=ROOT, pid=None, proc="/proc"):
    """{"layout", "memory_bytes", "memory_limit_bytes" (None: unlimited),
    "oom_kills", "cpu_ns" (cumulative), "pids": [...]}, or None when the
    container has no cgroup (not running). ``pid``: see locate()."""
    found = locate(container_id, root, pid, proc)
    if not found:
        return None
    layout, dirs = found
    try:
        if layout == "v2":
            base = dirs["unified"]
            usage = int(_read(os.path.join(base, "memory.current")))
            limit_text = _read(os.path.join(base, "memory.max")).strip()
            limit = None if limit_text == "max" else int(limit_text)
            inactive = _keyed(os.path.join(base, "memory.stat")).get("inactive_file", 0)
            oom = _keyed(os.path.join(base, "memory.events")).get("oom_kill", 0)
            cpu_ns = _keyed(os.path.join(base, "cpu.stat")).get("usage_usec", 0) * 1000
            procs = os.path.join(base, "cgroup.procs")
        else:
            base = dirs["memory"]
            usage = int(_read(os.path.join(base, "memory.usage_in_bytes")))
            limit = int(_read(os.path.join(base, "memory.limit_in_bytes")))
            limit = None if limit >= UNLIMITED else limit
            stat = _keyed(os.path.join(base, "memory.stat"))
            inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
            oom = _keyed(os.path.join(base, "memory.oom_control")).get("oom_kill", 0)
            cpu_ns = int(_read(os.path.join(dirs["cpu"], "cpuacct.usage")))
            procs = os.path.join(base, "cgroup.procs")
        pids = [int(p) for p in _read(procs).split()]
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None  # the container stopped while it was read
    return {"layout": layout, "memory_bytes": max(0, usage - inactive), "memory_limit_bytes": limit,
            "oom_kills": oom, "cpu_ns": cpu_ns, "pids": pids}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def processes(pids, proc="/proc"):
    """{pid: [role, cumulative CPU ns]} of the container's processes, the
    role from Odoo's process titles: "http" (``odoo: WorkerHTTP``), "cron"
    (``odoo: WorkerCron``) or "other". A process that ended between the
    listing and the read is skipped."""
    found = {}
    for pid in pids:
        try:
            title = _read(os.path.join(proc, str(pid), "cmdline")).replace("\0", " ")
            stat = _read(os.path.join(proc, str(pid), "stat"))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLOCK_TICKS  # utime + stime
        found[pid] = ["http" if "WorkerHTTP" in title else "cron" if "WorkerCron" in title else "other", ns]
    return found


def cpu_split(previous, current):
    """CPU ns by role spent between two ``processes()`` readings (a process
    new since the first counts from its start)."""
    split = {"http": 0, "cron": 0, "other": 0}
    for pid, (role, ns) in current.items():
        before = previous.get(str(pid)) or previous.get(pid)
        used = ns - before[1] if before and before[0] == role and before[1] <= ns else ns
        split[role] += used
    return split

"""One collection of one environment, plain values in and out: its
container's cgroup (CPU, split by Odoo's worker titles; memory; OOM
kills), its database (PostgreSQL statistics), its filestore (incremental
size), a health probe, and the request lines its Odoo wrote since the last
collection (from the platform's kept log: services/env_log.py in the core).

The request figures of a minute are folded once the minute is over: the
cursor stops at the first line of the current minute, so each line is read
once and each minute's percentiles are computed from all its requests.
"""

import calendar
import os
import time
from http.client import HTTPException

import requests as http
from odoo.addons.ipai_ops_core.services import http_health, postgres

from . import cgroup, filestore_size, request_log

READ_BATCH = 5000


def collect(previous, container_id, db, dbname, filestore, health_url, log_store, now=None,
            cgroup_root=cgroup.ROOT, on_line=None, container_pid=None, reading=None):
    """{"resources": {column: value}, "requests": {minute epoch: {column:
    value}}, "state": the state to keep for the next call}. ``on_line(text)``
    sees each log line read (the log-pattern alert rules); ``container_pid``:
    the container's first process, where its engine's cgroups are not
    Docker's default ones (cgroup.locate); ``reading``: the container's
    figures as read elsewhere (its own engine's, on another machine: no
    processes to split the CPU by, no OOM count; False: looked for there
    and not found), else (None) read here."""
    now = time.time() if now is None else now
    state = dict(previous or {})
    resources = {}
    if reading is None and container_id:
        reading = cgroup.read(container_id, cgroup_root, pid=container_pid)
    if reading:
        processes = cgroup.processes(reading["pids"])
        same = state.get("container_id") == container_id and state.get("read_at")
        if same:
            elapsed_ns = (now - state["read_at"]) * 1e9
            if elapsed_ns > 0:
                resources["cpu_pct"] = round(max(0, reading["cpu_ns"] - state["cpu_ns"]) / elapsed_ns * 100, 2)
                if processes:
                    split = cgroup.cpu_split(state.get("processes") or {}, processes)
                    resources["cpu_http_pct"] = round(split["http"] / elapsed_ns * 100, 2)
                    resources["cpu_cron_pct"] = round(split["cron"] / elapsed_ns * 100, 2)
        if reading["oom_kills"] is not None:  # a new container counts from its start
            resources["oom_kills"] = max(0, reading["oom_kills"] - ((same and state.get("oom_kills")) or 0))
        resources["mem_bytes"] = reading["memory_bytes"]
        resources["mem_limit_bytes"] = reading["memory_limit_bytes"]
        state.update(container_id=container_id, read_at=now, cpu_ns=reading["cpu_ns"], oom_kills=reading["oom_kills"],
                     processes={str(pid): value for pid, value in processes.items()})
    if dbname:
        stats = postgres.database_activity(db, dbname)
        if stats:
            resources.update(stats)
    if filestore:
        resources["filestore_bytes"], state["filestore_cache"] = filestore_size.measure(
            filestore, state.get("filestore_cache"))
    if health_url:
        resources.update(probe(health_url))
    if filestore:
        resources["disk_used_pct"] = disk_used_pct(filestore)
    minutes, state["log_cursor"] = read_requests(log_store, state.get("log_cursor"), now, on_line)
    return {"resources": resources, "requests": minutes, "state": state}


def probe(url, timeout=5):
    """/web/health at ``url``: an HTTP URL, or ``unix:SOCKET:/PATH`` (nginx's
    notation) for a server reached through a socket."""
    started = time.monotonic()
    try:
        if url.startswith("unix:"):
            socket_path, _sep, path = url[len("unix:"):].rpartition(":")
            ok = http_health.unix_status(socket_path, path, timeout=timeout) == 200
        else:
            ok = http.get(url, timeout=timeout).status_code == 200
    except (http.RequestException, OSError, HTTPException):
        ok = False
    return {"health_ok": ok, "health_ms": round((time.monotonic() - started) * 1000, 1)}


def disk_used_pct(path):
    """How full the disk holding the filestores is (its nearest existing directory)."""
    while path and not os.path.isdir(path):
        path = os.path.dirname(path)
    stat = os.statvfs(path or "/")
    total = stat.f_blocks * stat.f_frsize
    return round(100.0 * (total - stat.f_bavail * stat.f_frsize) / total, 2) if total else None


def read_requests(log_store, cursor, now, on_line=None):
    """(per-minute request figures of the complete minutes read, the new
    cursor). Without a cursor (a first collection) it starts at the end of
    the log: no history is made up or parsed twice."""
    if log_store is None:
        return {}, cursor
    log_store.sync(blocking=False)
    if not cursor:
        return {}, log_store.read(limit=1)["cursor"]
    current_minute = int(now) // 60 * 60
    minutes = request_log.Minutes()
    while True:
        lines = log_store.read(after=cursor, limit=READ_BATCH)["lines"]
        for line in lines:
            ts = calendar.timegm(time.strptime(line["time"], "%Y-%m-%d %H:%M:%S"))
            if ts >= current_minute:
                return minutes.figures(), cursor
            minutes.feed(line["text"])
            if on_line:
                on_line(line["text"])
            cursor = line["cursor"]
        if len(lines) < READ_BATCH:
            return minutes.figures(), cursor

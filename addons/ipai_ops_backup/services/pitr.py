"""Point-in-time recovery of one production database.

pgBackRest restores whole clusters, so a database is brought back as it was
at a given second through a side instance: the cluster restored with only
that database (``--db-include``) into a scratch directory, recovered up to
the second, started on a loopback port of its own without archiving, the
database copied out of it with pg_dump/pg_restore into the target server,
the side instance removed whatever happens.

Times are UTC: ``parse_target`` takes ``YYYY-MM-DD HH:MM:SS[.ffffff]`` with an
optional ``Z`` or ``±HH:MM`` offset (none means UTC).
"""

import datetime
import os
import re
import shutil
import subprocess
import time

import psycopg2
from odoo.addons.ipai_ops_core.services import filestore
from odoo.addons.ipai_ops_core.services.ports import free_port

from . import pg_cluster
from .pgbackrest import PgBackRestError

UTC = datetime.timezone.utc
_TARGET = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)\s*(Z|[+-]\d{2}:?\d{2})?$")
WAL_SEGMENT = 16 * 1024 * 1024
_SEGMENT = re.compile(r"^[0-9A-F]{24}")


class PitrError(Exception):
    """A point-in-time restore cannot be made, or failed; the message says why."""


def fmt(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def parse_target(text):
    """``text`` as an aware UTC datetime, or a PitrError naming the format."""
    match = _TARGET.match((text or "").strip())
    if not match:
        raise PitrError("%r is not a time: write it as YYYY-MM-DD HH:MM:SS (UTC), optionally with an offset "
                        "such as +01:00" % (text,))
    day, clock, offset = match.groups()
    try:
        moment = datetime.datetime.fromisoformat("%s %s" % (day, clock))
    except ValueError as exc:
        raise PitrError("%r is not a time: %s" % (text, exc)) from exc
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    else:
        tz = UTC
    return moment.replace(tzinfo=tz).astimezone(UTC)


def _segment(walfile):
    """The WAL segment an archived file names (a segment, or a backup's
    ``<segment>.<offset>.backup``); None for a timeline's ``.history``."""
    match = _SEGMENT.match(walfile or "")
    return match.group(0) if match else None


def _segment_end(segment):
    """The LSN (bytes) where WAL segment ``segment`` (24 hex digits) ends."""
    log, seg = int(segment[8:16], 16), int(segment[16:24], 16)
    return (log << 32) + (seg + 1) * WAL_SEGMENT


def archive_status(conn):
    """How far archiving of the cluster behind ``conn`` is, from pg_stat_archiver:
    {last_wal, last_time, failed_wal, failed_time, failing, pending_bytes, lag}."""
    row = pg_cluster.fetch(conn, """
        SELECT last_archived_wal, last_archived_time, last_failed_wal, last_failed_time,
               pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, now()
          FROM pg_stat_archiver""")[0]
    last_wal, last_time, failed_wal, failed_time, current, now = row
    # After a timeline's .history file, no segment of it is known archived yet.
    pending = current - _segment_end(_segment(last_wal)) if _segment(last_wal) else current
    failing = bool(failed_time and (not last_time or failed_time > last_time))
    if pending <= 0:
        lag = 0.0
    elif not last_time:
        lag = None  # nothing archived yet
    else:
        lag = max(0.0, (now - last_time).total_seconds())
    return {"last_wal": last_wal, "last_time": last_time, "failed_wal": failed_wal, "failed_time": failed_time,
            "failing": failing, "pending_bytes": max(pending, 0), "lag": lag, "now": now}


def restorable_window(info, status):
    """(earliest, latest) restorable moments: from the end of the oldest
    backup to the last archived WAL (now, when nothing is waiting)."""
    if not info["backups"]:
        return None, None
    earliest = datetime.datetime.fromtimestamp(info["backups"][0]["stop"], UTC)
    if status["lag"] == 0:
        latest = status["now"]
    else:
        latest = status["last_time"]
    if latest and latest < earliest:
        latest = earliest
    return earliest, latest


def check_target(text, window, now=None):
    """``text`` parsed and inside ``window`` (earliest, latest), or a PitrError
    that names the window. Returns the aware UTC datetime."""
    earliest, latest = window
    now = now or datetime.datetime.now(UTC)
    if not earliest:
        raise PitrError("No point can be restored yet: production's cluster has no backup in its repository.")
    span = "the restorable window is %s to %s" % (fmt(earliest), fmt(latest))
    try:
        target = parse_target(text)
    except PitrError as exc:
        raise PitrError("%s; %s." % (exc, span)) from exc
    if target > now:
        raise PitrError("%s is in the future; %s." % (fmt(target), span))
    if target < earliest or target > latest:
        raise PitrError("%s is outside what can be restored: %s." % (fmt(target), span))
    return target


def seal_archive(conn, timeout=120):
    """Make everything committed so far restorable: a commit record (so that a
    recovery target up to now has a commit after it to stop at), a WAL switch,
    and a wait until that segment is archived. Needs EXECUTE on pg_switch_wal."""
    db = pg_cluster.connect(conn)
    db.autocommit = False
    try:
        with db.cursor() as cr:
            cr.execute("SELECT txid_current()")
        db.commit()
        db.autocommit = True
        with db.cursor() as cr:
            cr.execute("SELECT pg_walfile_name(pg_switch_wal())")
            segment = cr.fetchone()[0]
    finally:
        db.close()
    deadline = time.monotonic() + timeout
    while True:
        status = archive_status(conn)
        last = _segment(status["last_wal"])
        if last and last[8:] >= segment[8:]:
            return status
        if time.monotonic() > deadline:
            raise PitrError("WAL segment %s was not archived within %ds (%s)" % (
                segment, timeout, "archiving fails since %s on %s" % (fmt(status["failed_time"]), status["failed_wal"])
                if status["failing"] else "archiving is behind"))
        time.sleep(0.2)


def promoted(conn):
    """Whether the server behind ``conn`` accepts connections and is out of recovery."""
    try:
        return not pg_cluster.fetch(conn, "SELECT pg_is_in_recovery()")[0][0]
    except psycopg2.OperationalError:
        return False  # not accepting connections before the end of recovery (hot_standby off)


def wait_promoted(conn, timeout=600):
    """Until the server behind ``conn`` accepts connections and is out of recovery."""
    deadline = time.monotonic() + timeout
    while not promoted(conn):
        if time.monotonic() > deadline:
            raise PitrError("The server was still recovering after %ds" % timeout)
        time.sleep(0.3)


class SideInstance:
    """A restored copy of production's cluster, on a loopback port, removed on exit."""

    def __init__(self, stanza, workdir):
        self.stanza = stanza
        self.workdir = pg_cluster.safe_path(workdir)
        self.datadir = os.path.join(self.workdir, "data")
        self.rundir = os.path.join(self.workdir, "run")
        self.port = free_port()
        self.process = None

    def __enter__(self):
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.rundir, mode=0o750)
        pg_cluster.give_to_postgres(self.workdir, self.rundir)
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return False

    def restore(self, target_time, databases, repo=None):
        """Only ``databases`` when the backup the target needs has them; the
        whole cluster when they were made after it (its WAL has them). From
        repository ``repo`` (1-based) when given, else the first that has it."""
        try:
            self.stanza.restore(self.datadir, target_time=target_time, databases=databases, repo=repo)
            return "only %s" % ", ".join(databases)
        except PgBackRestError as exc:
            if "database to include" not in str(exc):
                raise PitrError(str(exc)) from exc
        shutil.rmtree(self.datadir, ignore_errors=True)
        try:
            self.stanza.restore(self.datadir, target_time=target_time, repo=repo)
        except PgBackRestError as exc:
            raise PitrError(str(exc)) from exc
        return "the whole cluster (the database is younger than the backup)"

    def start(self, conn_user, conn_password, timeout=1800):
        """Start it and wait until recovery is over (promoted): returns its connection values."""
        log = open(os.path.join(self.workdir, "side.log"), "w")  # noqa: SIM115 - the server's output
        pg_cluster.give_to_postgres(log.name)
        args = [os.path.join(self.stanza.cluster.bindir, "postgres"), "-D", self.datadir, "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=%s" % self.rundir,
                "-c", "archive_mode=off", "-c", "max_connections=20", "-c", "shared_buffers=128MB",
                "-c", "hot_standby=off"]  # no connection before the end: fewer settings to match
        self.process = subprocess.Popen(pg_cluster.as_postgres(args), cwd="/", stdout=log, stderr=subprocess.STDOUT)
        log.close()
        conn = {"host": "127.0.0.1", "port": self.port, "user": conn_user, "password": conn_password}
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise PitrError("The restored copy did not start: %s" % self._reason())
            if promoted(conn):
                return conn
            if time.monotonic() > deadline:
                raise PitrError("The restored copy was still recovering after %ds" % timeout)
            time.sleep(0.3)

    def _reason(self):
        try:
            with open(os.path.join(self.workdir, "side.log"), errors="replace") as handle:
                lines = [line.strip() for line in handle if "FATAL" in line or "PANIC" in line]
        except OSError:
            lines = []
        return lines[-1] if lines else "no error in its log"

    def stop(self):
        if self.process and self.process.poll() is None:
            try:
                pg_cluster.run([os.path.join(self.stanza.cluster.bindir, "pg_ctl"), "-D", self.datadir, "-m",
                                "immediate", "-w", "stop"], "stopping the restored copy", timeout=60)
                self.process.wait(30)
            except (pg_cluster.ClusterError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(10)
        self.process = None


def restore_database(stanza, dbname, target, side_user, side_password, into_conn, into_db, workdir, repo=None):
    """Bring ``dbname`` as it was at ``target`` (aware datetime) into the
    existing empty ``into_db`` of the server ``into_conn`` (which owns every
    object of the copy). ``side_user``/``side_password``: a role of production's
    cluster that reads ``dbname`` (the control plane's). Returns timings."""
    started = time.monotonic()
    target_text = target.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    with SideInstance(stanza, workdir) as side:
        scope = side.restore(target_text, [dbname], repo=repo)
        restored = time.monotonic()
        conn = side.start(side_user, side_password)
        recovered = time.monotonic()
        try:
            copy = filestore.copy_database_live(into_conn, dbname, into_db, os.path.join(workdir + "-dump"),
                                                source_conn=conn)
        except RuntimeError as exc:
            raise PitrError("Copying the restored database failed: %s" % exc) from exc
    return {"restore": restored - started, "recovery": recovered - restored, "copy": copy["total"],
            "total": time.monotonic() - started, "scope": scope}

"""PostgreSQL clusters the platform runs itself, through PostgreSQL's own
programs (initdb, pg_ctl, postgres) with argument lists, never a shell:

- production's cluster: WAL-archived with pgBackRest (services/pgbackrest.py);
  its settings live in ``ipai_ops.conf`` next to ``postgresql.conf`` (included
  from it), rewritten whole by ``configure``;
- the side instances a point-in-time restore goes through (services/pitr.py):
  a restored copy of that cluster started on a loopback port of its own,
  without archiving, thrown away afterwards.

Servers run as the ``postgres`` OS user when we are root.
"""

import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import psutil
import psycopg2

INCLUDE_FILE = "ipai_ops.conf"
# Paths and values end up in PostgreSQL's configuration files: plain ones only.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class ClusterError(Exception):
    """A cluster could not be made, started, stopped or reached; the message names why."""


def server_bindir():
    """The newest installed PostgreSQL server's bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(re.sub(r"\D", "", p.split("/")[-2]) or 0))
    if not found:
        raise ClusterError("PostgreSQL's server programs are not installed (apt-get install postgresql)")
    return found[-1]


def safe_path(path):
    if not isinstance(path, str) or not _SAFE_PATH.match(path) or "/../" in path + "/":
        raise ClusterError("Not a plain absolute path: %r" % (path,))
    return path


def as_postgres(args):
    """``args`` run as the postgres OS user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def give_to_postgres(*paths):
    if os.geteuid() != 0:
        return
    import pwd  # noqa: PLC0415 - only root hands files over

    pw = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, pw.pw_uid, pw.pw_gid)


def run(args, what, timeout=600):
    proc = subprocess.run(as_postgres(args), cwd="/", capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise ClusterError("%s failed (exit %d): %s" % (what, proc.returncode,
                                                       (proc.stderr or proc.stdout).strip()[-1500:]))
    return proc.stdout


def _held_by_live_process(lock_file):
    """Whether the process a PostgreSQL lock file names (its first line) lives:
    False for a dead or zombie one, True when the file cannot be read (never
    remove what is not understood), None when there is no file."""
    try:
        with open(lock_file) as handle:
            pid = int(handle.readline())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_dead(pid, timeout=10):
    """Wait until a process that was sent SIGKILL is gone or a zombie: the
    signal is delivered asynchronously, and a process still exiting would be
    taken for a live server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)


def _conf_value(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    value = str(value)
    if "\n" in value or "\r" in value:
        raise ClusterError("A configuration value may not hold a line break")
    return "'%s'" % value.replace("'", "''")


class Cluster:
    """One local cluster: a data directory, a port, a socket directory."""

    def __init__(self, datadir, port, socket_dir=None, bindir=None):
        self.datadir = safe_path(datadir)
        self.port = int(port)
        self.socket_dir = safe_path(socket_dir or datadir.rstrip("/") + "-run")
        self.bindir = bindir or server_bindir()

    # -- life cycle -----------------------------------------------------------
    def exists(self):
        return os.path.isfile(os.path.join(self.datadir, "PG_VERSION"))

    def initdb(self, superuser_password):
        """A new cluster: local connections by peer, TCP ones by SCRAM password."""
        if self.exists():
            raise ClusterError("%s already holds a cluster" % self.datadir)
        os.makedirs(self.datadir, mode=0o700, exist_ok=True)
        give_to_postgres(self.datadir)
        with tempfile.NamedTemporaryFile("w", delete=False, prefix="ops-pw-") as pwfile:
            pwfile.write(superuser_password + "\n")
        try:
            give_to_postgres(pwfile.name)
            run([os.path.join(self.bindir, "initdb"), "-D", self.datadir, "-U", "postgres", "--auth-local=peer",
                 "--auth-host=scram-sha-256", "--pwfile=%s" % pwfile.name, "-E", "UTF8", "--locale=C.UTF-8"],
                "initdb")
        finally:
            os.unlink(pwfile.name)
        conf = os.path.join(self.datadir, "postgresql.conf")
        with open(conf, "a") as handle:
            handle.write("\ninclude_if_exists = '%s'\n" % INCLUDE_FILE)

    def configure(self, settings):
        """Rewrite the platform's settings file whole (port and socket included)."""
        values = {"port": self.port, "unix_socket_directories": self.socket_dir, "listen_addresses": "127.0.0.1"}
        values.update(settings)
        lines = ["# Written by ipai ops (services/pg_cluster.py); changes here are overwritten."]
        for key, value in values.items():
            if not _SAFE_NAME.match(key):
                raise ClusterError("Not a PostgreSQL setting name: %r" % key)
            lines.append("%s = %s" % (key, _conf_value(value)))
        path = os.path.join(self.datadir, INCLUDE_FILE)
        with open(path + ".new", "w") as handle:
            handle.write("\n".join(lines) + "\n")
        give_to_postgres(path + ".new")
        os.replace(path + ".new", path)

    def running(self):
        proc = subprocess.run(as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "status"]),
                              cwd="/", capture_output=True, check=False)
        return proc.returncode == 0

    def start(self, timeout=120):
        os.makedirs(self.socket_dir, exist_ok=True)
        give_to_postgres(self.socket_dir)
        if self.running():
            return
        self._drop_stale_locks()
        try:
            run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-l",
                 os.path.join(self.datadir, "server.log"), "-w", "-t", str(timeout), "start"],
                "starting PostgreSQL in %s" % self.datadir, timeout=timeout + 30)
        except ClusterError as exc:
            # pg_ctl only says "examine the log output": the server's own last words name the cause.
            why = [line for line in self.log_tail(20).splitlines() if any(
                level in line for level in ("FATAL", "PANIC", "ERROR", "DETAIL", "HINT"))]
            raise ClusterError("%s%s" % (exc, (" Its log: " + " | ".join(why[-4:])) if why else "")) from exc

    def reload(self):
        run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "reload"], "reloading PostgreSQL")

    def stop(self, mode="fast"):
        if self.running():
            run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m", mode, "-w", "stop"],
                "stopping PostgreSQL in %s" % self.datadir)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as handle:
                return int(handle.readline())
        except (OSError, ValueError):
            return None

    def _server_processes(self):
        """The postmaster and every process it started, living or orphaned: a
        server's processes work in its data directory (psutil also names a
        deleted one by its path)."""
        datadir = os.path.realpath(self.datadir)
        found = []
        for proc in psutil.process_iter():
            try:
                if os.path.basename(proc.exe()) == "postgres" and proc.cwd() == datadir:
                    found.append(proc)
            except (psutil.Error, OSError):  # gone meanwhile, or a kernel thread
                continue
        return found

    def kill(self):
        """SIGKILL the server (a crash, as tests and drills need it) and what is
        left of a server that died: a killed postmaster's children (the
        archiver in its archive_command, a backend in a query) linger, still
        attached to its shared memory, and a server started on a data
        directory made again in the same place would refuse to start
        ("pre-existing shared memory block is still in use")."""
        pid = self.postmaster_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        procs = self._server_processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        for waited in {proc.pid for proc in procs} | ({pid} if pid else set()):
            _wait_dead(waited)
        self._drop_stale_locks()

    def _drop_stale_locks(self):
        """A killed postmaster stays a zombie until its new parent reaps it (a
        container's first process may never do), and PostgreSQL takes a
        zombie's lock files for a live server's ("lock file ... already
        exists. Is another postmaster (PID n) using socket file")."""
        lock = os.path.join(self.socket_dir, ".s.PGSQL.%d.lock" % self.port)
        for paths in ((lock, lock[:-len(".lock")]), (os.path.join(self.datadir, "postmaster.pid"),)):
            if _held_by_live_process(paths[0]) is False:
                for stale in paths:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(stale)

    def remove(self):
        self.kill()
        shutil.rmtree(self.datadir, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def log_tail(self, lines=15):
        try:
            with open(os.path.join(self.datadir, "server.log"), errors="replace") as handle:
                return "".join(handle.readlines()[-lines:]).strip()
        except OSError:
            return ""

    # -- SQL ------------------------------------------------------------------
    def conn(self, user, password):
        """Connection values (as services/postgres takes them: no database) for this cluster."""
        return {"host": "127.0.0.1", "port": self.port, "user": user, "password": password}


def connect(conn, dbname=None, timeout=10):
    values = dict(conn)
    values["dbname"] = dbname or values.get("dbname") or "postgres"
    return psycopg2.connect(connect_timeout=timeout, **values)


def fetch(conn, query, args=(), dbname=None):
    db = connect(conn, dbname)
    db.autocommit = True
    try:
        with db.cursor() as cr:
            cr.execute(query, args)
            return cr.fetchall() if cr.description else None
    finally:
        db.close()

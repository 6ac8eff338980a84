"""pgBackRest for production's cluster: its configuration file, and its
commands (stanza-create, check, backup, expire, info, restore) run with
argument lists as the postgres OS user (who also runs ``archive-push`` from
PostgreSQL's ``archive_command``).

A repository is a dict:
  {"path": "/var/lib/.../repo"}                                 local disk
  {"type": "s3", "path": "/prefix", "bucket", "endpoint", "region",
   "key", "secret", "uri_style": "path"|"host", "port", "verify_tls"}
plus, for either, "cipher_pass" (encrypted with aes-256-cbc when set) and
"retention_days" (a time-based full retention: the PITR window, default 7).
The configuration file holds the keys: readable by the postgres user only.
"""

import json
import os
import re
import subprocess
import urllib.parse

from . import pg_cluster

DEFAULT_RETENTION_DAYS = 7
# pgBackRest's own error lines: "ERROR: [055]: unable to load info file ..."
_ERROR_LINE = re.compile(r"^(?:[\d\-: .]+P\d+\s+)?ERROR: \[\d+\]: (.*)$", re.M)
_KEY = re.compile(r"^[a-z0-9-]+$")


class PgBackRestError(Exception):
    """A pgBackRest command failed; the message is pgBackRest's own error."""


class Stanza:
    """One cluster's backups and archive: a stanza in a configuration file."""

    def __init__(self, base_dir, name, cluster, repos):
        self.base_dir = pg_cluster.safe_path(base_dir)
        if not re.match(r"^[a-z][a-z0-9-]{0,40}$", name or ""):
            raise PgBackRestError("Not a stanza name: %r" % (name,))
        self.name = name
        self.cluster = cluster
        self.repos = list(repos)
        if not self.repos:
            raise PgBackRestError("A stanza needs at least one repository")
        self.config_path = os.path.join(self.base_dir, "pgbackrest.conf")

    # -- configuration ----------------------------------------------------------
    def _repo_options(self, index, repo):
        prefix = "repo%d-" % index
        opts = {"path": repo["path"]}
        if repo.get("type") == "s3":
            opts.update({"type": "s3", "s3-bucket": repo["bucket"], "s3-endpoint": repo["endpoint"],
                         "s3-region": repo.get("region") or "us-east-1", "s3-key": repo["key"],
                         "s3-key-secret": repo["secret"], "s3-uri-style": repo.get("uri_style") or "path"})
            if repo.get("port"):
                opts["storage-port"] = int(repo["port"])
            if repo.get("verify_tls") is False:
                opts["storage-verify-tls"] = "n"
            if repo.get("ca_file"):
                opts["storage-ca-file"] = repo["ca_file"]
        else:
            pg_cluster.safe_path(repo["path"])
        if repo.get("cipher_pass"):
            opts.update({"cipher-type": "aes-256-cbc", "cipher-pass": repo["cipher_pass"]})
        opts.update({"retention-full-type": "time",
                     "retention-full": int(repo.get("retention_days") or DEFAULT_RETENTION_DAYS)})
        return {prefix + key: value for key, value in opts.items()}

    def write_config(self):
        """The configuration file, rewritten whole (0600, the postgres user's)."""
        options = {
            "log-path": os.path.join(self.base_dir, "log"), "lock-path": os.path.join(self.base_dir, "lock"),
            "spool-path": os.path.join(self.base_dir, "spool"), "log-level-console": "warn",
            "log-level-file": "info", "compress-type": "lz4", "process-max": 2, "start-fast": "y",
            "archive-timeout": 120,
        }
        for index, repo in enumerate(self.repos, 1):
            options.update(self._repo_options(index, repo))
        stanza = {"pg1-path": self.cluster.datadir, "pg1-port": self.cluster.port,
                  "pg1-socket-path": self.cluster.socket_dir}
        lines = ["# Written by ipai ops (services/pgbackrest.py); changes here are overwritten.", "[global]"]
        lines += [_line(key, value) for key, value in options.items()]
        lines += ["", "[%s]" % self.name] + [_line(key, value) for key, value in stanza.items()]
        for sub in ("log", "lock", "spool"):
            os.makedirs(os.path.join(self.base_dir, sub), exist_ok=True)
            pg_cluster.give_to_postgres(os.path.join(self.base_dir, sub))
        for repo in self.repos:
            if repo.get("type") != "s3":
                os.makedirs(repo["path"], mode=0o750, exist_ok=True)
                pg_cluster.give_to_postgres(repo["path"])
        pg_cluster.give_to_postgres(self.base_dir)
        tmp = self.config_path + ".new"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        pg_cluster.give_to_postgres(tmp)
        os.replace(tmp, self.config_path)

    def archive_command(self):
        """PostgreSQL's archive_command: pgBackRest pushes each finished WAL segment."""
        return "pgbackrest --config=%s --stanza=%s archive-push %%p" % (self.config_path, self.name)

    def postgres_settings(self, archive_timeout=60):
        """What production's cluster needs for continuous archiving."""
        return {"wal_level": "replica", "archive_mode": "on", "archive_command": self.archive_command(),
                "archive_timeout": int(archive_timeout), "max_wal_senders": 3}

    # -- commands ---------------------------------------------------------------
    def run(self, command, *options, timeout=3600):
        args = ["pgbackrest", "--config=%s" % self.config_path, "--stanza=%s" % self.name, *options, command]
        proc = subprocess.run(pg_cluster.as_postgres(args), cwd="/", capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            output = (proc.stderr or "") + (proc.stdout or "")
            errors = _ERROR_LINE.findall(output)
            raise PgBackRestError("pgBackRest %s failed: %s" % (
                command, errors[-1].strip() if errors else output.strip()[-800:] or "exit %d" % proc.returncode))
        return proc.stdout

    def stanza_create(self):
        """The stanza on every repository (idempotent), then a check that WAL reaches them."""
        self.run("stanza-create")
        self.run("check")

    def backup(self, kind="full"):
        if kind not in ("full", "diff", "incr"):
            raise PgBackRestError("A backup is full, diff or incr, not %r" % (kind,))
        self.run("backup", "--type=%s" % kind)
        return self.info()["backups"][-1]

    def info(self):
        """Backups (oldest first) and archive ranges, as pgBackRest reports them."""
        data = json.loads(self.run("info", "--output=json") or "[]")
        stanza = next((item for item in data if item.get("name") == self.name), None) or {}
        backups = [{
            "label": item["label"], "type": item["type"], "start": item["timestamp"]["start"],
            "stop": item["timestamp"]["stop"], "size": item["info"]["size"],
            "repo_size": item["info"]["repository"]["delta"], "repo": (item.get("database") or {}).get("repo-key"),
            "wal_start": (item.get("archive") or {}).get("start"), "wal_stop": (item.get("archive") or {}).get("stop"),
        } for item in stanza.get("backup") or []]
        archive = stanza.get("archive") or []
        return {"status": (stanza.get("status") or {}).get("message", "missing"), "backups": backups,
                "wal_min": min((a.get("min") for a in archive if a.get("min")), default=None),
                "wal_max": max((a.get("max") for a in archive if a.get("max")), default=None)}

    def restore(self, datadir, target_time=None, databases=(), repo=None, archive=False):
        """Restore the cluster into ``datadir`` (empty or absent): to ``target_time``
        (``YYYY-MM-DD HH:MM:SS.ffffff+00``) or, without one, to the end of the
        archive; only ``databases`` (and PostgreSQL's own) when given. A side
        copy does not archive (it must not write into this stanza); a lost
        server restored in place does (``archive=True``)."""
        pg_cluster.safe_path(datadir)
        os.makedirs(datadir, mode=0o700, exist_ok=True)
        pg_cluster.give_to_postgres(datadir)
        options = ["--pg1-path=%s" % datadir]
        if not archive:
            options.append("--archive-mode=off")
        if target_time:
            options += ["--type=time", "--target=%s" % target_time, "--target-action=promote"]
        for name in databases:
            options.append("--db-include=%s" % name)
        if repo:
            options.append("--repo=%d" % int(repo))
        self.run("restore", *options)


def stanza_for(config):
    """The stanza of production's cluster from plain values (ops.pitr._ops_config,
    or the restore spec's copy of them): datadir, port, socket_dir, base_dir,
    stanza, repos."""
    cluster = pg_cluster.Cluster(config["datadir"], config["port"], config["socket_dir"])
    return Stanza(config["base_dir"], config["stanza"], cluster, config["repos"])


def s3_repo(offsite, path, cipher_pass, ca_file=None, retention_days=None):
    """The pgBackRest repository on the off-site storage the backups use
    (ops.backup._offsite_settings: endpoint URL, bucket, keys, region),
    always encrypted. pgBackRest speaks HTTPS only: an http:// endpoint is
    refused with that reason."""
    if not cipher_pass:
        raise PgBackRestError("An off-site WAL repository is always encrypted, and no key is set")
    endpoint = offsite.get("endpoint")
    region = offsite.get("region") or "us-east-1"
    if endpoint:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme != "https" or not url.hostname:
            raise PgBackRestError("pgBackRest reaches S3 over HTTPS only; the off-site endpoint is %s" % endpoint)
        host, port, style = url.hostname, url.port, "path"
    else:
        host, port, style = "s3.%s.amazonaws.com" % region, None, "host"
    repo = {"type": "s3", "path": path, "bucket": offsite["bucket"], "endpoint": host, "region": region,
            "key": offsite.get("access_key") or "", "secret": offsite.get("secret_key") or "", "uri_style": style,
            "cipher_pass": cipher_pass, "retention_days": retention_days}
    if port:
        repo["port"] = port
    if ca_file:
        repo["ca_file"] = pg_cluster.safe_path(ca_file)
    return repo


def _line(key, value):
    if not _KEY.match(key):
        raise PgBackRestError("Not a pgBackRest option: %r" % key)
    value = str(value)
    if "\n" in value or "\r" in value or not value:
        raise PgBackRestError("pgBackRest option %s needs a one-line value" % key)
    return "%s=%s" % (key, value)

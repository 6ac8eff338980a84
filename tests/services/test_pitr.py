"""Point-in-time recovery against a real PostgreSQL cluster archived by a real
pgBackRest (services/archived_cluster.py, pgbackrest.py, pitr.py): a logical
accident undone to the second while production keeps writing, a lost server
brought back from the repository, archiving broken and repaired, and the
errors a wrong time gets."""

import datetime
import os
import secrets
import shutil
import subprocess
import threading
import time

import psycopg2
import pytest
from odoo.addons.ipai_ops_backup.services import archived_cluster, pg_cluster, pgbackrest, pitr

UTC = datetime.timezone.utc
# Short for the test (the platform's default is 60 s): a lost server loses at most this much.
ARCHIVE_TIMEOUT = 5
CONTROL = ("ops_pitr_control", "control-" + secrets.token_hex(8))


def _main_server():
    get = os.environ.get
    return {"host": get("OPS_DB_HOST", "127.0.0.1"), "port": int(get("OPS_DB_PORT", "5433")),
            "user": get("OPS_DB_USER", "ipai_ops"), "password": get("OPS_DB_PASSWORD", "ipai_ops")}


@pytest.fixture(scope="module")
def prod():
    """An archived production cluster of its own (port, data directory, repository), removed afterwards."""
    # Not under pytest's 0700 temporary directory: the postgres user works in it.
    base = "/var/tmp/ops-pitr-%s" % secrets.token_hex(4)
    os.makedirs(base, mode=0o755)
    cluster = pg_cluster.Cluster(base + "/data", pitr.free_port())
    stanza = pgbackrest.Stanza(base + "/pgbackrest", "production", cluster, [{"path": base + "/repo"}])
    try:
        archived_cluster.ensure(cluster, stanza, "super-" + secrets.token_hex(8), *CONTROL,
                                archive_timeout=ARCHIVE_TIMEOUT)
        conn = cluster.conn(*CONTROL)
        pg_cluster.fetch(conn, "CREATE DATABASE shop")
        pg_cluster.fetch(conn, """
            CREATE TABLE sale_order (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
            CREATE TABLE res_partner (id serial PRIMARY KEY, name text NOT NULL);
            INSERT INTO res_partner (name) SELECT 'partner ' || n FROM generate_series(1, 50) n;""", dbname="shop")
        # The repository's first backup was taken before these: a differential one has them.
        stanza.backup("diff")
        yield {"cluster": cluster, "stanza": stanza, "conn": conn, "base": base}
    finally:
        cluster.remove()
        shutil.rmtree(base, ignore_errors=True)


class Writer(threading.Thread):
    """Production's users: an order every 100 ms, each noted with when its commit returned."""

    def __init__(self, conn):
        super().__init__(daemon=True)
        self.conn, self.stop, self.rows, self.errors = conn, threading.Event(), [], []

    def run(self):
        db = None
        while not self.stop.is_set():
            try:
                db = db or pg_cluster.connect(self.conn, "shop")
                with db.cursor() as cr:
                    cr.execute("INSERT INTO sale_order DEFAULT VALUES RETURNING id, at")
                    row_id, at = cr.fetchone()
                db.commit()
                self.rows.append((row_id, at, datetime.datetime.now(UTC)))
            except psycopg2.Error as exc:
                self.errors.append((datetime.datetime.now(UTC), str(exc).strip()))
                db = None
            self.stop.wait(0.1)

    def finish(self):
        self.stop.set()
        self.join(10)


def _ids(conn, dbname, table="sale_order"):
    return {row[0] for row in pg_cluster.fetch(conn, "SELECT id FROM %s" % table, dbname=dbname)}


@pytest.fixture
def scratch_db():
    """An empty database on the platform's main server (where staging lives)."""
    name = "ops_pitr_into_%s" % secrets.token_hex(4)
    pg_cluster.fetch(_main_server(), "CREATE DATABASE %s" % name)
    yield name
    pg_cluster.fetch(_main_server(), "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def test_wrong_times_name_the_window(prod):
    info = prod["stanza"].info()
    status = pitr.archive_status(prod["conn"])
    window = pitr.restorable_window(info, status)
    assert window[0] and window[1] >= window[0]
    future = (datetime.datetime.now(UTC) + datetime.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    for text, why in ((future, "in the future"), ("2001-01-01 00:00:00", "outside what can be restored"),
                      ("02/12/2026 15:59", "is not a time"), ("2026-12-02 15:59:30 Europe/Brussels", "is not a time")):
        with pytest.raises(pitr.PitrError) as caught:
            pitr.check_target(text, window)
        assert why in str(caught.value) and "the restorable window is" in str(caught.value), text
    # An offset is a time like any other: 16:59:30+01:00 is 15:59:30 UTC.
    assert pitr.parse_target("2026-12-02 16:59:30+01:00") == datetime.datetime(2026, 12, 2, 15, 59, 30, tzinfo=UTC)


def test_logical_accident_undone_to_the_second(prod, scratch_db):
    writer = Writer(prod["conn"])
    writer.start()
    try:
        time.sleep(3)
        accident = datetime.datetime.now(UTC)
        pg_cluster.fetch(prod["conn"], "DROP TABLE res_partner", dbname="shop")
        time.sleep(1.5)
        target = accident - datetime.timedelta(seconds=1)
        status = pitr.seal_archive(prod["conn"])
        window = pitr.restorable_window(prod["stanza"].info(), status)
        chosen = pitr.check_target(target.strftime("%Y-%m-%d %H:%M:%S.%f"), window)
        written_before = len(writer.rows)
        timings = pitr.restore_database(prod["stanza"], "shop", chosen, *CONTROL, _main_server(), scratch_db,
                                        prod["base"] + "/side")
        written_during = len(writer.rows) - written_before
    finally:
        writer.finish()
    print("PITR restore of one database: %s" % timings)
    # Production kept answering throughout.
    assert not writer.errors, writer.errors[:3]
    assert written_during >= timings["total"] * 3, (written_during, timings)
    # The dropped table is back, whole.
    assert len(_ids(_main_server(), scratch_db, "res_partner")) == 50
    restored = _ids(_main_server(), scratch_db)
    committed_before = {i for i, _at, done in writer.rows if done < chosen}
    begun_after = {i for i, at, _done in writer.rows if at > chosen}
    assert committed_before and committed_before <= restored, sorted(committed_before - restored)[:5]
    assert not restored & begun_after, sorted(restored & begun_after)[:5]
    # Nothing of the side instance is left.
    assert not os.path.exists(prod["base"] + "/side")


def test_broken_archiving_is_seen_and_catches_up(prod):
    archive = os.path.join(prod["base"], "repo", "archive")
    os.chmod(archive, 0o000)
    try:
        pg_cluster.fetch(prod["conn"], "INSERT INTO sale_order DEFAULT VALUES", dbname="shop")
        pg_cluster.fetch(prod["conn"], "SELECT pg_switch_wal()")
        deadline = time.monotonic() + 60
        while not pitr.archive_status(prod["conn"])["failing"]:
            assert time.monotonic() < deadline, "archiving never reported failing"
            time.sleep(0.5)
        status = pitr.archive_status(prod["conn"])
        assert status["pending_bytes"] > 0 and status["lag"] > 0
        # Production keeps working meanwhile.
        pg_cluster.fetch(prod["conn"], "INSERT INTO sale_order DEFAULT VALUES", dbname="shop")
    finally:
        os.chmod(archive, 0o750)
    status = pitr.seal_archive(prod["conn"], timeout=90)
    assert not status["failing"] and status["lag"] < ARCHIVE_TIMEOUT, status


def test_lost_server_comes_back_from_the_repository(prod):
    cluster, conn = prod["cluster"], prod["conn"]
    writer = Writer(conn)
    writer.start()
    time.sleep(3 * ARCHIVE_TIMEOUT)
    cluster.kill()
    killed = datetime.datetime.now(UTC)
    writer.finish()
    shutil.rmtree(cluster.datadir)
    started = time.monotonic()
    prod["stanza"].restore(cluster.datadir, archive=True)
    cluster.start(timeout=600)
    pitr.wait_promoted(conn)
    seconds = time.monotonic() - started
    kept = _ids(conn, "shop")
    lost = [(i, done) for i, _at, done in writer.rows if i not in kept]
    window = max(((killed - done).total_seconds() for _i, done in lost), default=0)
    print("Lost server: restored in %.1fs; %d of %d rows lost, the oldest committed %.1fs before the kill"
          % (seconds, len(lost), len(writer.rows), window))
    assert len(kept & {i for i, *_ in writer.rows}) > 0
    # The recovery point: no commit older than the archive timeout (plus the segment's own push) is lost.
    assert window <= ARCHIVE_TIMEOUT + 3, lost[:5]
    # Archiving goes on, on the new timeline.
    assert not pitr.seal_archive(conn)["failing"]


@pytest.fixture
def s3_tls():
    """A local S3 (moto) behind nginx speaking TLS with a certificate of the test's own
    (pgBackRest reaches S3 over HTTPS only); the off-site settings the backups use."""
    boto3 = pytest.importorskip("boto3", reason="boto3 comes with the backup tests' requirements")
    moto = os.path.join(os.environ.get("OPS_MOTO_VENV", "/opt/ipai-ops/moto-venv"), "bin", "moto_server")
    if not os.path.exists(moto):
        pytest.fail("moto_server is missing: scripts/setup.sh installs it into $OPS_MOTO_VENV")
    base = "/var/tmp/ops-pitr-s3-%s" % secrets.token_hex(4)
    os.makedirs(base, mode=0o755)
    cert, key = base + "/cert.pem", base + "/key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], check=True,
                   capture_output=True)
    os.chmod(cert, 0o644)
    moto_port, tls_port = pitr.free_port(), pitr.free_port()
    with open(base + "/nginx.conf", "w") as handle:
        handle.write(NGINX_TLS % {"base": base, "tls": tls_port, "moto": moto_port})
    proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(moto_port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["nginx", "-c", base + "/nginx.conf", "-p", base + "/"], check=True, capture_output=True)
        endpoint = "https://localhost:%d" % tls_port
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                              region_name="us-east-1", verify=cert)
        for _ in range(100):
            try:
                client.create_bucket(Bucket="ipai-ops-offsite")
                break
            except Exception:  # noqa: BLE001 - moto still starting
                time.sleep(0.2)
        yield {"client": client, "cert": cert, "base": base, "offsite": {
            "endpoint": endpoint, "bucket": "ipai-ops-offsite", "access_key": "test", "secret_key": "test"}}
    finally:
        subprocess.run(["nginx", "-c", base + "/nginx.conf", "-p", base + "/", "-s", "stop"], capture_output=True,
                       check=False)
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


NGINX_TLS = """worker_processes 1;
pid %(base)s/nginx.pid;
error_log %(base)s/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %(base)s/body;
  proxy_temp_path %(base)s/proxy;
  server {
    listen 127.0.0.1:%(tls)d ssl;
    ssl_certificate %(base)s/cert.pem;
    ssl_certificate_key %(base)s/key.pem;
    client_max_body_size 0;
    location / {
      proxy_pass http://127.0.0.1:%(moto)d;
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_http_version 1.1;
    }
  }
}
"""


def test_s3_repository_alone_restores_to_the_second_and_is_encrypted(s3_tls, scratch_db):
    """WAL and backups also go to the off-site S3 storage, encrypted; with the local
    repository gone, a point in time comes back from S3 alone."""
    with pytest.raises(pgbackrest.PgBackRestError, match="HTTPS only"):
        pgbackrest.s3_repo(dict(s3_tls["offsite"], endpoint="http://127.0.0.1:9"), "/pitr", "k" * 32)
    base = s3_tls["base"]
    cluster = pg_cluster.Cluster(base + "/data", pitr.free_port())
    s3 = pgbackrest.s3_repo(s3_tls["offsite"], "/pitr", secrets.token_urlsafe(32), ca_file=s3_tls["cert"])
    stanza = pgbackrest.Stanza(base + "/pgbackrest", "production", cluster, [{"path": base + "/repo"}, s3])
    try:
        archived_cluster.ensure(cluster, stanza, "super-" + secrets.token_hex(8), *CONTROL,
                                archive_timeout=ARCHIVE_TIMEOUT)
        conn = cluster.conn(*CONTROL)
        pg_cluster.fetch(conn, "CREATE DATABASE shop")
        pg_cluster.fetch(conn, "CREATE TABLE sale_order (id serial PRIMARY KEY, at timestamptz NOT NULL "
                               "DEFAULT clock_timestamp())", dbname="shop")
        stanza.run("backup", "--repo=2", "--type=full")
        writer = Writer(conn)
        writer.start()
        time.sleep(2)
        target = datetime.datetime.now(UTC)
        time.sleep(1.5)
        writer.finish()
        pitr.seal_archive(conn)
        shutil.rmtree(base + "/repo")  # the local repository is lost
        pitr.restore_database(stanza, "shop", target, *CONTROL, _main_server(), scratch_db, base + "/side", repo=2)
    finally:
        cluster.remove()
    restored = _ids(_main_server(), scratch_db)
    assert {i for i, _at, done in writer.rows if done < target} <= restored
    assert not restored & {i for i, at, _done in writer.rows if at > target}
    # Encrypted at rest: what the bucket holds is OpenSSL's salted cipher text, not PostgreSQL's files.
    client = s3_tls["client"]
    for key in ("pitr/backup/production/backup.info", "pitr/archive/production/archive.info"):
        assert client.get_object(Bucket="ipai-ops-offsite", Key=key)["Body"].read(8) == b"Salted__", key
    assert client.list_objects_v2(Bucket="ipai-ops-offsite", Prefix="pitr/archive/production/15-1/")["KeyCount"]


def test_a_dead_servers_lingering_processes_do_not_stop_a_new_one():
    """A killed postmaster's backend still in a query stays attached to its
    shared memory; a cluster made again in the same directory (the lost
    server rebuilt) must start anyway: kill() ends what is left of the old
    server, and a start that fails says why in the server's own words."""
    base = "/var/tmp/ops-pitr-%s" % secrets.token_hex(4)
    os.makedirs(base, mode=0o755)
    cluster = pg_cluster.Cluster(base + "/data", pitr.free_port())
    password = "super-" + secrets.token_hex(8)
    try:
        cluster.initdb(password)
        cluster.configure({})
        cluster.start()
        busy = psycopg2.connect(dbname="postgres", **cluster.conn("postgres", password))
        # A query that does not wait on anything (pg_sleep would notice its postmaster's death).
        query = "SELECT count(*) FROM generate_series(1, 1000000000)"
        threading.Thread(target=_quietly, args=(busy.cursor().execute, query), daemon=True).start()
        time.sleep(1)
        os.kill(cluster.postmaster_pid(), 9)  # the server dies; its backend goes on counting
        shutil.rmtree(cluster.datadir)
        assert cluster._server_processes(), "the backend outlives its postmaster"
        cluster.kill()
        assert not cluster._server_processes()
        cluster.initdb(password)
        cluster.configure({})
        cluster.start()
        assert pg_cluster.fetch(cluster.conn("postgres", password), "SELECT 1") == [(1,)]
        # A start that fails names the server's reason, not only "examine the log output".
        cluster.stop()
        cluster.configure({"shared_preload_libraries": "ops_no_such_library"})
        with pytest.raises(pg_cluster.ClusterError, match="Its log: .*FATAL"):
            cluster.start(timeout=20)
    finally:
        cluster.remove()
        shutil.rmtree(base, ignore_errors=True)


def _quietly(call, *args):
    try:
        call(*args)
    except psycopg2.Error:
        pass  # the server it ran on was killed

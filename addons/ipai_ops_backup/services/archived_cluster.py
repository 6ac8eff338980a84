"""Production's cluster, made and kept WAL-archived: initdb when it is not
there, the archiving settings, the control plane's role, the pgBackRest
stanza, and a first full backup (a point in time needs a backup before it)."""

from psycopg2 import sql

from . import pg_cluster

# Sized for production on a small host; the settings file is rewritten on each ensure().
PRODUCTION_SETTINGS = {"max_connections": 200, "shared_buffers": "512MB", "fsync": "on",
                       "synchronous_commit": "on", "full_page_writes": "on", "wal_compression": "lz4"}


def ensure(cluster, stanza, superuser_password, control_user, control_password, archive_timeout=60,
           listen="127.0.0.1"):
    """Make ``cluster`` archive into ``stanza`` and let ``control_user`` in; idempotent.
    Returns pgBackRest's info (with at least one backup)."""
    if not cluster.exists():
        cluster.initdb(superuser_password)
    settings = dict(PRODUCTION_SETTINGS, listen_addresses=listen, **stanza.postgres_settings(archive_timeout))
    stanza.write_config()
    cluster.configure(settings)
    superuser = cluster.conn("postgres", superuser_password)
    if cluster.running():
        mode, level = (row[0] for row in pg_cluster.fetch(
            superuser, "SELECT setting FROM pg_settings WHERE name IN ('archive_mode', 'wal_level') ORDER BY name"))
        if (mode, level) != ("on", "replica"):
            cluster.stop()  # archive_mode and wal_level take a restart
        else:
            cluster.reload()  # the archive command and the rest
    cluster.start()
    role = sql.Identifier(control_user)
    if not pg_cluster.fetch(superuser, "SELECT 1 FROM pg_roles WHERE rolname = %s", (control_user,)):
        pg_cluster.fetch(superuser, sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD %s").format(role),
                         (control_password,))
    else:
        pg_cluster.fetch(superuser, sql.SQL("ALTER ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD %s").format(role),
                         (control_password,))
    # Sealing the archive before a restore (services/pitr.seal_archive), reading the
    # archiver's state, and keeping pg_hba.conf's environment rules (as on the shared
    # server, see scripts/pg.sh) need nothing more of a superuser's.
    for statement in ("GRANT EXECUTE ON FUNCTION pg_switch_wal() TO {}", "GRANT pg_monitor TO {}",
                      "GRANT pg_read_all_settings TO {}", "GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {}",
                      "GRANT SELECT ON pg_hba_file_rules TO {}",
                      "GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO {}"):
        pg_cluster.fetch(superuser, sql.SQL(statement).format(role))
    stanza.stanza_create()
    info = stanza.info()
    if not info["backups"]:
        stanza.backup("full")
        info = stanza.info()
    return info

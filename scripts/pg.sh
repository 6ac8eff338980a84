#!/usr/bin/env bash
# The embedded PostgreSQL cluster: a data directory of the project's own, on
# port $OPS_DB_PORT, run by the `postgres` OS user. It listens on every
# address so that each environment's network reaches it at its gateway; who
# gets in is pg_hba.conf's business: the loopback as before, and each
# environment's role from its own network only (sections the control plane
# writes, see services/postgres/access.py), and the host's firewall admits
# nothing but the loopback and the environments' networks to this port.
# Usage: pg.sh start|stop|status
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ "$OPS_EMBEDDED_PG" = 1 ] || ops_die "OPS_DB_HOST is set: the embedded cluster is not used"

bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
[ -n "$bindir" ] || ops_die "PostgreSQL server binaries not found (apt-get install postgresql)"
# From /: the postgres user may not enter the directory we were started in.
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

case "${1:-start}" in
start)
  mkdir -p "$OPS_HOME"; chmod 755 "$OPS_HOME"
  if [ ! -s "$OPS_PGDATA/PG_VERSION" ]; then
    ops_log "creating the embedded PostgreSQL cluster in $OPS_PGDATA"
    mkdir -p "$OPS_PGDATA" "$OPS_PGRUN"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$OPS_PGDATA" "$OPS_PGRUN"
    chmod 700 "$OPS_PGDATA"
    # The superuser's password, read by initdb (run as postgres) from a file only it may read.
    pwfile="$(mktemp)"; printf '%s\n' "$OPS_DB_PASSWORD" > "$pwfile"; chmod 600 "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$bindir/initdb" -D "$OPS_PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
      --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    cat >> "$OPS_PGDATA/postgresql.conf" <<CONF
port = $OPS_DB_PORT
unix_socket_directories = '$OPS_PGRUN'
max_connections = 200
shared_buffers = 512MB
fsync = on
CONF
  fi
  mkdir -p "$OPS_PGRUN"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$OPS_PGRUN"
  # Every address (see above); a cluster made before listened on the loopback only.
  if ! grep -qx "listen_addresses = '\*'" "$OPS_PGDATA/postgresql.auto.conf" 2>/dev/null; then
    sed -i "/^listen_addresses/d" "$OPS_PGDATA/postgresql.conf"
    printf "listen_addresses = '*'\n" >> "$OPS_PGDATA/postgresql.auto.conf"
    chown postgres:postgres "$OPS_PGDATA/postgresql.auto.conf"
    as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" status >/dev/null 2>&1 \
      && as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" -m fast -w stop >/dev/null
  fi
  if ! as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" status >/dev/null 2>&1; then
    ops_log "starting PostgreSQL on port $OPS_DB_PORT"
    as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" -l "$OPS_PGDATA/server.log" -w -t 60 start >/dev/null
  fi
  # The control plane's own role: creates databases (one per build) and the
  # per-project roles of later issues; never a superuser.
  # The password reaches psql in its environment (readable by its user and
  # root only), never on its command line (which every user may read).
  OPS_PG_ROLE_PASSWORD="$OPS_DB_PASSWORD" as_pg "$bindir/psql" -h "$OPS_PGRUN" -p "$OPS_DB_PORT" -U postgres \
    -d postgres -qtA -v ON_ERROR_STOP=1 -v role="$OPS_DB_USER" <<'SQL' >/dev/null
\getenv pw OPS_PG_ROLE_PASSWORD
SELECT format('CREATE ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'role', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'role', :'pw') \gexec
SET client_min_messages = warning;
-- The control plane keeps pg_hba.conf's environment rules (where the file is,
-- reload, the rules in force); nothing more of a superuser's.
SELECT format('GRANT pg_read_all_settings TO %I', :'role') \gexec
SELECT format('GRANT EXECUTE ON FUNCTION pg_reload_conf() TO %I', :'role') \gexec
SELECT format('GRANT SELECT ON pg_hba_file_rules TO %I', :'role') \gexec
SELECT format('GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO %I', :'role') \gexec
SQL
  # Production's cluster (WAL-archived, made by ops.pitr.setup: docs/backups.md), when there is one.
  if [ -s "$OPS_PITR_ROOT/data/PG_VERSION" ] && ! as_pg "$bindir/pg_ctl" -D "$OPS_PITR_ROOT/data" status >/dev/null 2>&1; then
    ops_log "starting production's PostgreSQL cluster ($OPS_PITR_ROOT/data)"
    as_pg "$bindir/pg_ctl" -D "$OPS_PITR_ROOT/data" -l "$OPS_PITR_ROOT/data/server.log" -w -t 120 start >/dev/null
  fi
  ;;
stop)
  if [ -s "$OPS_PITR_ROOT/data/PG_VERSION" ]; then
    as_pg "$bindir/pg_ctl" -D "$OPS_PITR_ROOT/data" -m fast stop >/dev/null 2>&1 || true
  fi
  as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" -m fast stop >/dev/null 2>&1 || true ;;
status)
  as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" status ;;
*) ops_die "usage: pg.sh start|stop|status" ;;
esac

#!/usr/bin/env bash
# The embedded PostgreSQL cluster: a data directory of the project's own,
# listening on 127.0.0.1:$OPS_DB_PORT only, run by the `postgres` OS user.
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
    pwfile="$(mktemp)"; printf '%s\n' "$OPS_DB_PASSWORD" > "$pwfile"; chmod 644 "$pwfile"
    as_pg "$bindir/initdb" -D "$OPS_PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
      --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    cat >> "$OPS_PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $OPS_DB_PORT
unix_socket_directories = '$OPS_PGRUN'
max_connections = 200
shared_buffers = 512MB
fsync = on
CONF
  fi
  mkdir -p "$OPS_PGRUN"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$OPS_PGRUN"
  if ! as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" status >/dev/null 2>&1; then
    ops_log "starting PostgreSQL on 127.0.0.1:$OPS_DB_PORT"
    as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" -l "$OPS_PGDATA/server.log" -w -t 60 start >/dev/null
  fi
  # The control plane's own role: creates databases (one per build) and the
  # per-project roles of later issues; never a superuser.
  as_pg "$bindir/psql" -h "$OPS_PGRUN" -p "$OPS_DB_PORT" -U postgres -d postgres -qtA -v ON_ERROR_STOP=1 \
    -v role="$OPS_DB_USER" -v pw="$OPS_DB_PASSWORD" <<'SQL' >/dev/null
SELECT format('CREATE ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'role', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'role', :'pw') \gexec
SQL
  ;;
stop)
  as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" -m fast stop >/dev/null 2>&1 || true ;;
status)
  as_pg "$bindir/pg_ctl" -D "$OPS_PGDATA" status ;;
*) ops_die "usage: pg.sh start|stop|status" ;;
esac

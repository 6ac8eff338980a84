#!/usr/bin/env bash
# make run: install what is missing, create (first time) or update the
# control plane database with the three addons and demo data, then serve
# Odoo on 127.0.0.1:$OPS_HTTP_PORT.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$OPS_REPO/scripts/setup.sh"
mapfile -t args < <(ops_odoo_args)
odoo=("$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" "${args[@]}" -d "$OPS_DB_NAME" --db-filter "^${OPS_DB_NAME}\$")

installed="$(PGPASSWORD="$OPS_DB_PASSWORD" psql -h "$OPS_DB_HOST" -p "$OPS_DB_PORT" -U "$OPS_DB_USER" -d "$OPS_DB_NAME" \
  -qtAc "SELECT count(*) FROM ir_module_module WHERE name = 'ipai_ops_core' AND state = 'installed'" 2>/dev/null || true)"
if [ "$installed" != 1 ]; then
  ops_log "creating database $OPS_DB_NAME with $OPS_ADDONS and demo data (about a minute)"
  "${odoo[@]}" -i "$OPS_ADDONS" --stop-after-init --log-level=warn
else
  ops_log "updating $OPS_ADDONS in $OPS_DB_NAME"
  "${odoo[@]}" -u "$OPS_ADDONS" --stop-after-init --log-level=warn
fi
# The front door: the platform's own nginx on 127.0.0.1:$OPS_PROXY_PORT (the
# environments' hostnames); it stops with Ctrl-C, like the rest.
ops_proxy=("$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" --addons-path="$ODOO_SRC/addons,$OPS_REPO/addons" ops-proxy
           "${args[@]}" -d "$OPS_DB_NAME" --log-level=warn)
"${ops_proxy[@]}" --listen "127.0.0.1:$OPS_PROXY_PORT" --listen-tls "127.0.0.1:$OPS_PROXY_TLS_PORT"
# The workers: one process per slot of this host (sized from its CPUs and
# memory, or the capacity of its Docker host record; OPS_WORKER_SLOTS
# overrides), each started again when it dies; they stop with Ctrl-C too.
workers=("$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" --addons-path="$ODOO_SRC/addons,$OPS_REPO/addons" ops-workers
         "${args[@]}" -d "$OPS_DB_NAME" --log-level=warn ${OPS_WORKER_SLOTS:+--slots "$OPS_WORKER_SLOTS"})
"${workers[@]}" &
workers_pid=$!
trap 'kill -TERM "$workers_pid" 2>/dev/null; wait "$workers_pid" 2>/dev/null; "${ops_proxy[@]}" --stop >/dev/null 2>&1 || true' EXIT
cat >&2 <<MSG

  ipai ops is starting on  http://127.0.0.1:${OPS_HTTP_PORT}/odoo/action-ipai_ops_core.action_ops_project
  login: admin   password: admin      (Ops Manager, owner of the demo projects)
  other demo users (password = login): ada (admin), demo (developer), tess (tester), vic (viewer)
  mail from development and staging environments: caught on port 2525 (their network's gateway), shown on each environment
  environments: http://<branch>.<project>.ops.localhost:${OPS_PROXY_PORT} (the platform's nginx; browsers
                resolve *.localhost to 127.0.0.1, curl needs --resolve NAME:${OPS_PROXY_PORT}:127.0.0.1)
  CLI:   $OPS_VENV/bin/ops --help    (see README: OPS_URL, OPS_DB=$OPS_DB_NAME, OPS_LOGIN, OPS_API_KEY)
  master password: $OPS_HOME/secrets/master-password (root only; the database manager is off)
  secrets key:     back up the key file with the control plane (README: Secrets and the master password)
  workers: one process per slot (Ops > Configuration > Workers); runs start within a second of being queued
  stop with Ctrl-C

MSG
# The mail catcher keeps what development and staging environments send
# (port ipai_ops.mail_catcher_port, default 2525, on every address: each
# network reaches it at its gateway, the firewall admits nobody else); it
# stops with Ctrl-C.
"$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" --addons-path="$ODOO_SRC/addons,$OPS_REPO/addons" ops-mailcatcher \
  "${args[@]}" -d "$OPS_DB_NAME" --log-level=warn &
"${odoo[@]}" --http-interface 127.0.0.1 --http-port "$OPS_HTTP_PORT"

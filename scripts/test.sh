#!/usr/bin/env bash
# make test: install what is missing, build a fresh test database with the
# three addons (demo data included), then run the whole suite with pytest:
# the addons' TransactionCase tests (pytest-odoo) and the out-of-process
# tests in tests/ (a real Odoo server, XML-RPC, the ops CLI).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$OPS_REPO/scripts/setup.sh"
# The tests build environments on every supported Odoo version: their trees
# must be here (the runtime images are built on first use).
for version in $OPS_ODOO_VERSIONS; do
  [ -f "$(ops_odoo_src "$version")/odoo-bin" ] || "$OPS_REPO/scripts/odoo-source.sh" "$version"
done
mapfile -t args < <(ops_odoo_args)
export PGPASSWORD="$OPS_DB_PASSWORD"
pg=(-h "$OPS_DB_HOST" -p "$OPS_DB_PORT" -U "$OPS_DB_USER")
export OPS_E2E_DB="${OPS_E2E_DB:-${OPS_TEST_DB}_e2e}"

for db in "$OPS_TEST_DB" "$OPS_E2E_DB"; do
  dropdb "${pg[@]}" --if-exists --force "$db"
  rm -rf "$OPS_HOME/data/filestore/$db"
  # What an earlier run of the same database left on the Docker engine (the
  # namespace and the ids come again): its containers and networks.
  if [ "${OPS_SKIP_DOCKER:-0}" != 1 ]; then
    plane="o$(printf %s "$db" | sha1sum | cut -c1-6)"
    docker ps -aq --filter "label=ipai-ops.plane=$plane" | xargs -r docker rm -f >/dev/null
    docker network ls -q --filter "label=ipai-ops.plane=$plane" | xargs -r docker network rm >/dev/null
  fi
done
# Odoo's Automation Rules app too: the tests prove our server actions work in its rules.
ops_log "installing $OPS_ADDONS and base_automation into a fresh $OPS_TEST_DB (with demo data)"
"$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" "${args[@]}" -d "$OPS_TEST_DB" -i "$OPS_ADDONS,base_automation" \
  --stop-after-init --log-level=warn
# The out-of-process tests get their own copy, so their commits never meet
# the rolled-back transactions of the in-process tests.
# Our own leftover sessions only: autovacuum workers (superuser) are
# stopped by PostgreSQL itself when the template is copied.
psql "${pg[@]}" -d postgres -qtAc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
  WHERE datname = '$OPS_TEST_DB' AND pid <> pg_backend_pid() AND usename = current_user
    AND backend_type = 'client backend'" >/dev/null
createdb "${pg[@]}" -T "$OPS_TEST_DB" "$OPS_E2E_DB"
[ -d "$OPS_HOME/data/filestore/$OPS_TEST_DB" ] && cp -al "$OPS_HOME/data/filestore/$OPS_TEST_DB" "$OPS_HOME/data/filestore/$OPS_E2E_DB"

cd "$OPS_REPO"
# pytest-odoo imports odoo in the pytest process.
export PYTHONPATH="$ODOO_SRC${PYTHONPATH:+:$PYTHONPATH}"
exec "$OPS_VENV/bin/pytest" -p no:cacheprovider --durations=25 \
  --odoo-config "$OPS_CONF" --odoo-database "$OPS_TEST_DB" --odoo-log-level warn \
  --odoo-extra "db_host=$OPS_DB_HOST" --odoo-extra "db_port=$OPS_DB_PORT" \
  --odoo-extra "db_user=$OPS_DB_USER" \
  "$@" ${OPS_TEST_PATHS:-addons tests}

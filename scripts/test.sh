#!/usr/bin/env bash
# make test: install what is missing, build a fresh test database with the
# three addons (demo data included), run the addons' TransactionCase tests
# with Odoo's own runner (odoo-bin --test-enable), then the out-of-process
# tests in tests/ with pytest (a real Odoo server, XML-RPC, the ops CLI, the
# services against real PostgreSQL, git, nginx and Docker).
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
# The documentation site builds, every link between its pages and to their
# headings found (--strict: a broken one fails the suite).
site="$(mktemp -d)"
"$OPS_DOCS_VENV/bin/mkdocs" build --strict --quiet --site-dir "$site" || ops_die "the documentation (docs/) does not build"
rm -rf "$site"
# pytest-odoo imports odoo in the pytest process.
export PYTHONPATH="$ODOO_SRC${PYTHONPATH:+:$PYTHONPATH}"
pytest=("$OPS_VENV/bin/pytest" -p no:cacheprovider
  --odoo-config "$OPS_CONF" --odoo-database "$OPS_TEST_DB" --odoo-log-level warn
  --odoo-extra "db_host=$OPS_DB_HOST" --odoo-extra "db_port=$OPS_DB_PORT" --odoo-extra "db_user=$OPS_DB_USER")

# The addons' own tests, run by Odoo's runner as runbot and OCA's CI run
# them (every module their tests/__init__.py imports), on the test database
# (rolled back: the out-of-process tests' copy above is made already). The
# count must be what pytest collects from the same folders: a test module
# missing from an __init__.py would be run by neither CI otherwise.
# OPS_TEST_PATHS (a few paths for pytest) skips this step.
if [ -z "${OPS_TEST_PATHS:-}" ]; then
  ops_log "running the addons' tests with Odoo's runner (odoo-bin --test-enable)"
  odoo_log="$(mktemp)"
  set +e
  "$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" "${args[@]}" -d "$OPS_TEST_DB" --test-enable \
    --test-tags "/${OPS_ADDONS//,/,/}" --stop-after-init --log-level=warn --log-handler=odoo.tests.result:INFO \
    2>&1 | tee "$odoo_log"
  rc=${PIPESTATUS[0]}
  set -e
  summary="$(grep -o '[0-9]* failed, [0-9]* error(s) of [0-9]* tests' "$odoo_log" | tail -n 1)"
  rm -f "$odoo_log"
  [ "$rc" = 0 ] || ops_die "the addons' tests failed under odoo-bin --test-enable (${summary:-no summary})"
  odoo_count="${summary##* of }"; odoo_count="${odoo_count%% tests}"
  pytest_count="$("${pytest[@]}" --collect-only -q addons 2>/dev/null | grep -oE '^[0-9]+ tests? collected' | cut -d' ' -f1)"
  ops_log "odoo-bin ran ${odoo_count:-?} tests of the addons; pytest collects ${pytest_count:-?} there"
  [ -n "$odoo_count" ] && [ "$odoo_count" = "$pytest_count" ] \
    || ops_die "odoo-bin ran ${odoo_count:-no} tests but pytest collects ${pytest_count:-none} in addons/:" \
      "a test module is missing from its addon's tests/__init__.py"
  # Core on its own: it installs and its tests pass without the backup and
  # monitoring addons (each addon brings its own run kinds, actions and
  # staging sources: executors/registry.py).
  core_db="${OPS_TEST_DB}_core"
  dropdb "${pg[@]}" --if-exists --force "$core_db"
  ops_log "installing ipai_ops_core alone into $core_db and running its tests (odoo-bin --test-enable)"
  odoo_log="$(mktemp)"
  set +e
  "$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" "${args[@]}" -d "$core_db" -i ipai_ops_core --test-enable \
    --test-tags /ipai_ops_core --stop-after-init --log-level=warn --log-handler=odoo.tests.result:INFO \
    2>&1 | tee "$odoo_log"
  rc=${PIPESTATUS[0]}
  set -e
  summary="$(grep -o '[0-9]* failed, [0-9]* error(s) of [0-9]* tests' "$odoo_log" | tail -n 1)"
  rm -f "$odoo_log"
  dropdb "${pg[@]}" --if-exists --force "$core_db"
  rm -rf "$OPS_HOME/data/filestore/$core_db"
  [ "$rc" = 0 ] && [ -n "$summary" ] || ops_die "ipai_ops_core alone: its tests failed (${summary:-no summary})"
  ops_log "ipai_ops_core alone: ${summary}"
fi
exec "${pytest[@]}" --durations=25 "$@" ${OPS_TEST_PATHS:-tests}

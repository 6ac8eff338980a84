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
# The whole suite runs its out-of-process tests in streams at once, each on
# a copy of its own (a control plane of its own: see the end of this file).
lab_db="${OPS_TEST_DB}_lab"
alone_db="${OPS_TEST_DB}_alone"
e2e_dbs=("$OPS_E2E_DB")
[ -z "${OPS_TEST_PATHS:-}" ] && e2e_dbs+=("$lab_db" "$alone_db")

for db in "$OPS_TEST_DB" "${e2e_dbs[@]}"; do
  dropdb "${pg[@]}" --if-exists --force "$db"
  rm -rf "$OPS_HOME/data/filestore/$db"
done
# What an earlier run of the same databases left (the namespace and the ids
# come again): containers and networks, pg_hba.conf sections, firewall chains.
PYTHONPATH="$ODOO_SRC" "$OPS_VENV/bin/python" "$OPS_REPO/scripts/forget_planes.py" "$OPS_TEST_DB" "${e2e_dbs[@]}"
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
for db in "${e2e_dbs[@]}"; do
  createdb "${pg[@]}" -T "$OPS_TEST_DB" "$db"
  [ -d "$OPS_HOME/data/filestore/$OPS_TEST_DB" ] && cp -al "$OPS_HOME/data/filestore/$OPS_TEST_DB" "$OPS_HOME/data/filestore/$db"
done

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

if [ -n "${OPS_TEST_PATHS:-}" ]; then
  exec "${pytest[@]}" --durations=25 "$@" $OPS_TEST_PATHS
fi

# The addons' own tests, run by Odoo's runner as runbot and OCA's CI run
# them (every module their tests/__init__.py imports), on the test database
# (rolled back: the out-of-process tests' copy above is made already). The
# count must be what pytest collects from the same folders: a test module
# missing from an __init__.py would be run by neither CI otherwise.
# OPS_TEST_PATHS (a few paths for pytest) skips this step. It runs beside
# the out-of-process streams (below): on its own it keeps one core of two busy.
odoo_runner() {
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
}

# The out-of-process tests, in two streams at once: most of their time is
# spent waiting (for containers, Odoo's start, a swarm's convergence), not
# computing. Each stream is a pytest session with a control plane of its
# own (its own database copy, Odoo server, nginx, egress proxy, namespace on
# the shared Docker engine and PostgreSQL server), as two control planes on
# one host are in production.
#   lab:  the swarm files (the lab's engines, tests/swarm_lab.py), the
#         upgrade previews (their migrations are the longest runs) and
#         staging (so that both streams take about as long)
#   main: everything else
# Then the tests that need the machine to themselves (marker `alone`: a
# restart of the Docker daemon, a comparison of the whole database server).
# In this order: test_swarm_engine's first tests place units on a swarm of one node, before a worker joins.
lab_files=(tests/services/test_swarm_engine.py tests/services/test_swarm_gateway.py tests/services/test_swarm_guard.py
  tests/test_swarm_serving.py tests/test_swarm_serving_nodes.py tests/test_swarm_serving_runs_there.py
  tests/test_upgrade_preview.py tests/test_staging.py)
ignore=()
for file in "${lab_files[@]}"; do ignore+=(--ignore "$file"); done
prefixed() {  # NAME COMMAND...: its lines prefixed by the name, its exit code
  local name="$1"
  shift
  "$@" 2>&1 | sed -u "s/^/[$name] /"
  return "${PIPESTATUS[0]}"
}
stream() {  # NAME DB PYTEST-ARGS...: one pytest session
  local name="$1" db="$2"
  shift 2
  OPS_E2E_DB="$db" prefixed "$name" "${pytest[@]}" --durations=10 "$@"
}
ops_log "running the addons' tests with Odoo's runner and the out-of-process tests in two streams, at once" \
  "(lines prefixed [odoo], [lab] and [main])"
started=$SECONDS
prefixed odoo odoo_runner &
odoo_pid=$!
stream lab "$lab_db" -m "not alone" "$@" "${lab_files[@]}" &
lab_pid=$!
stream main "$OPS_E2E_DB" -m "not alone" "${ignore[@]}" "$@" tests &
main_pid=$!
odoo_rc=0 lab_rc=0 main_rc=0 alone_rc=0
wait "$odoo_pid" || odoo_rc=$?
wait "$lab_pid" || lab_rc=$?
wait "$main_pid" || main_rc=$?
ops_log "the two streams took $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s" \
  "(odoo: exit $odoo_rc, lab: exit $lab_rc, main: exit $main_rc)"
ops_log "running the tests that need the machine to themselves (-m alone)"
stream alone "$alone_db" -m alone "$@" tests || alone_rc=$?
[ "$odoo_rc" = 0 ] || ops_die "the addons' tests failed under Odoo's runner (the [odoo] lines above say which)"
[ "$lab_rc" = 0 ] && [ "$main_rc" = 0 ] && [ "$alone_rc" = 0 ] \
  || ops_die "the out-of-process tests failed (exit codes: lab $lab_rc, main $main_rc, alone $alone_rc)"
ops_log "the addons' tests and the out-of-process tests passed (odoo, lab, main and alone)"

#!/usr/bin/env bash
# make screenshots: the README's screenshots, taken by the backend's own
# Odoo tours in Chromium (the tours of make test, with OPS_SCREENSHOTS set),
# into docs/screenshots/, with how long each page took to be usable
# (docs/screenshots/interactive.json, printed as a table). A scratch
# database is made for it and dropped afterwards.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$OPS_REPO/scripts/setup.sh"
mapfile -t args < <(ops_odoo_args)
export PGPASSWORD="$OPS_DB_PASSWORD"
pg=(-h "$OPS_DB_HOST" -p "$OPS_DB_PORT" -U "$OPS_DB_USER")
db="${OPS_TEST_DB}_screens"
out="$OPS_REPO/docs/screenshots"
cleanup() {
  dropdb "${pg[@]}" --if-exists --force "$db"
  rm -rf "$OPS_HOME/data/filestore/$db"
}
trap cleanup EXIT
cleanup
mkdir -p "$out"
rm -f "$out"/*.png "$out/interactive.json"
ops_log "installing $OPS_ADDONS into $db"
"$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" "${args[@]}" -d "$db" -i "$OPS_ADDONS" --stop-after-init --log-level=warn
ops_log "running the backend's tours with screenshots into $out"
OPS_SCREENSHOTS="$out" "$OPS_VENV/bin/python" "$ODOO_SRC/odoo-bin" "${args[@]}" -d "$db" --test-enable \
  --test-tags /ipai_ops_core:TestBackendTours,/ipai_ops_monitoring:TestMonitoringTour --stop-after-init \
  --log-level=warn --log-handler=odoo.tests.result:INFO
ls "$out"/*.png >/dev/null 2>&1 || ops_die "no screenshot was taken (see the tours' output above)"
"$OPS_VENV/bin/python" - "$out/interactive.json" <<'PY'
import json
import sys

times = json.load(open(sys.argv[1]))
print("%-45s %8s" % ("page (usable after)", "ms"))
for page, ms in sorted(times.items(), key=lambda item: -item[1]):
    print("%-45s %8d" % (page, ms))
print(json.dumps({"bench": "backend_interactive", "milliseconds": times}))
PY
ops_log "screenshots: $(ls "$out"/*.png | wc -l) in docs/screenshots/"

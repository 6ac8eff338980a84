# Shared settings for the ipai ops scripts. Sourced, never executed.
# Every value can be overridden from the environment.
OPS_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OPS_REPO
# Where the machine-wide state lives: outside the repository, so that a
# fresh clone (CI) finds the Odoo source and the virtualenv already there.
export OPS_HOME="${OPS_HOME:-/opt/ipai-ops}"
export ODOO_SRC="${ODOO_SRC:-$OPS_HOME/odoo-18.0}"
export ODOO_GIT_URL="${ODOO_GIT_URL:-https://github.com/odoo/odoo.git}"
# The other Odoo versions' trees (17.0, 19.0: runtime images for the upgrade
# advisor) are siblings of ODOO_SRC: $OPS_ODOO_SOURCES/odoo-<version>.
export OPS_ODOO_SOURCES="${OPS_ODOO_SOURCES:-$(dirname "$ODOO_SRC")}"
export OPS_ODOO_VERSIONS="17.0 18.0 19.0"
export OPS_VENV="${OPS_VENV:-$OPS_HOME/venv}"
# The control plane's Odoo configuration, written by scripts/setup.sh
# (scripts/odoo-conf.sh) from the repository's odoo.conf with this
# installation's master password (hashed); mode 0600. The password itself
# is in $OPS_HOME/secrets/master-password (root only).
export OPS_CONF="${OPS_CONF:-$OPS_HOME/odoo.conf}"
export OPS_PYTHON="${OPS_PYTHON:-python3}"
export OPS_MOTO_VENV="${OPS_MOTO_VENV:-$OPS_HOME/moto-venv}"
export OPS_DOCS_VENV="${OPS_DOCS_VENV:-$OPS_HOME/docs-venv}"
export OPS_LINT_VENV="${OPS_LINT_VENV:-$OPS_HOME/lint-venv}"
# Database server used by the control plane. When OPS_DB_HOST is not set,
# an embedded PostgreSQL cluster of the project's own is used.
export OPS_PGDATA="${OPS_PGDATA:-$OPS_HOME/pgdata}"
export OPS_PGRUN="${OPS_PGRUN:-$OPS_HOME/pgrun}"
# Production's cluster and its pgBackRest repository (ops.pitr.setup; ipai_ops.pitr_root).
export OPS_PITR_ROOT="${OPS_PITR_ROOT:-$OPS_HOME/data/ipai_ops/pitr}"
if [ -z "${OPS_DB_HOST:-}" ] || [ "${OPS_EMBEDDED_PG:-}" = 1 ]; then
  export OPS_EMBEDDED_PG=1
  export OPS_DB_HOST=127.0.0.1
  export OPS_DB_PORT="${OPS_DB_PORT:-5433}"
  export OPS_DB_USER="${OPS_DB_USER:-ipai_ops}"
  export OPS_DB_PASSWORD="${OPS_DB_PASSWORD:-ipai_ops}"
else
  export OPS_EMBEDDED_PG=0
  export OPS_DB_PORT="${OPS_DB_PORT:-5432}"
  export OPS_DB_USER="${OPS_DB_USER:-ipai_ops}"
  export OPS_DB_PASSWORD="${OPS_DB_PASSWORD:-}"
fi
export OPS_DB_NAME="${OPS_DB_NAME:-ipai_ops}"
export OPS_TEST_DB="${OPS_TEST_DB:-ipai_ops_test}"
export OPS_HTTP_PORT="${OPS_HTTP_PORT:-8069}"
# The platform's nginx (make run): environments at http://<branch>.<project>.ops.localhost:$OPS_PROXY_PORT
export OPS_PROXY_PORT="${OPS_PROXY_PORT:-8080}"
# ... and over HTTPS on this port for the names a TLS certificate covers
export OPS_PROXY_TLS_PORT="${OPS_PROXY_TLS_PORT:-8443}"
export OPS_ADDONS="ipai_ops_core,ipai_ops_backup,ipai_ops_monitoring"
# Python's bytecode cache, kept outside the repository: every `odoo-bin` the
# platform starts (workers, shells, upgrades) would otherwise compile Odoo's
# sources again, when the caller's environment turns the cache off
# (PYTHONDONTWRITEBYTECODE, as some CI runners set).
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-$OPS_HOME/pycache}"

# The Odoo tree of a version (the directory holding odoo-bin).
ops_odoo_src() {
  if [ "$1" = 18.0 ]; then echo "$ODOO_SRC"; else echo "$OPS_ODOO_SOURCES/odoo-$1"; fi
}

ops_log() { printf '\033[1;34m[ipai-ops]\033[0m %s\n' "$*" >&2; }
ops_die() { printf '\033[1;31m[ipai-ops] error:\033[0m %s\n' "$*" >&2; exit 1; }

# The database password reaches Odoo (libpq) and the PostgreSQL tools through
# the environment, never on a command line that every user of the host sees.
if [ -n "$OPS_DB_PASSWORD" ]; then export PGPASSWORD="$OPS_DB_PASSWORD"; fi

# odoo-bin arguments shared by every script: config, addons and database.
ops_odoo_args() {
  printf '%s\n' \
    -c "$OPS_CONF" \
    --addons-path "$ODOO_SRC/addons,$OPS_REPO/addons" \
    --db_host "$OPS_DB_HOST" --db_port "$OPS_DB_PORT" \
    --db_user "$OPS_DB_USER"
}

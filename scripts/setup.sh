#!/usr/bin/env bash
# Installs what is missing, idempotently: system packages, the Odoo 18.0
# source, a virtualenv with Odoo's and our requirements, and (when no
# database server is configured) starts the embedded PostgreSQL cluster.
set -euo pipefail
source "$(dirname "$0")/env.sh"

need_pkgs=()
for p in postgresql postgresql-contrib libpq-dev libldap2-dev libsasl2-dev git build-essential python3-dev python3-venv curl nginx prometheus; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || ops_die "missing system packages (${need_pkgs[*]}); run as root or install them with apt-get"
  ops_log "installing system packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- Odoo 18.0 source -------------------------------------------------------
if [ ! -x "$ODOO_SRC/odoo-bin" ]; then
  ops_log "no Odoo source in ODOO_SRC=$ODOO_SRC; cloning branch 18.0 of $ODOO_GIT_URL (shallow)"
  mkdir -p "$(dirname "$ODOO_SRC")"
  tmp="$ODOO_SRC.partial.$$"
  if git clone --quiet --depth 1 --branch 18.0 "$ODOO_GIT_URL" "$tmp" 2>/dev/null; then
    rm -rf "$ODOO_SRC"; mv "$tmp" "$ODOO_SRC"
  else
    rm -rf "$tmp"
    ops_die "Odoo 18.0 source not found. Put an Odoo 18.0 Community tree (the directory holding odoo-bin) at $ODOO_SRC, or set ODOO_SRC to one; cloning $ODOO_GIT_URL failed (no network?)."
  fi
fi
grep -q "version_info = (18, 0" "$ODOO_SRC/odoo/release.py" \
  || ops_die "$ODOO_SRC is not an Odoo 18.0 tree (odoo/release.py says otherwise)"

# --- virtualenv ---------------------------------------------------------------
stamp="$OPS_VENV/.ipai-ops-requirements"
want="$(cat "$ODOO_SRC/requirements.txt" "$OPS_REPO/requirements.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$OPS_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  ops_log "installing Python requirements into $OPS_VENV (first time takes a few minutes)"
  [ -x "$OPS_VENV/bin/python" ] || "$OPS_PYTHON" -m venv "$OPS_VENV"
  constraint="$OPS_HOME/pip-constraints.txt"
  # Odoo 18's pinned requirements still build with setup.py: cap setuptools.
  printf 'setuptools<70\n' > "$constraint"
  PIP_CONSTRAINT="$constraint" "$OPS_VENV/bin/pip" install -q 'pip<25' wheel 'setuptools<70'  # pip 25+ drops PIP_CONSTRAINT in build envs
  PIP_CONSTRAINT="$constraint" "$OPS_VENV/bin/pip" install -q -r "$ODOO_SRC/requirements.txt"
  PIP_CONSTRAINT="$constraint" "$OPS_VENV/bin/pip" install -q -r "$OPS_REPO/requirements.txt"
  echo "$want" > "$stamp"
fi
# The `ops` CLI of this checkout, on the venv's PATH.
"$OPS_VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$OPS_REPO" >/dev/null

# A local S3-compatible server (moto) for the off-site backup tests, in a venv
# of its own so its web stack never meets Odoo's pinned one.
if [ ! -x "$OPS_MOTO_VENV/bin/moto_server" ]; then
  ops_log "installing moto (local S3-compatible server for the tests) into $OPS_MOTO_VENV"
  "$OPS_PYTHON" -m venv "$OPS_MOTO_VENV"
  "$OPS_MOTO_VENV/bin/pip" install -q 'moto[server]==5.0.28'
fi

# --- database server ------------------------------------------------------
if [ "$OPS_EMBEDDED_PG" = 1 ]; then
  "$OPS_REPO/scripts/pg.sh" start
fi

# --- Docker engine and the runtime image ------------------------------------
# Environments run in Docker: start the engine where no init system does, and
# build the runtime image offline (reused while its inputs are unchanged).
if [ "${OPS_SKIP_DOCKER:-0}" != 1 ]; then
  "$OPS_REPO/scripts/docker.sh" start
  "$OPS_REPO/scripts/build-runtime-image.sh"
fi

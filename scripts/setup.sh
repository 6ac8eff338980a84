#!/usr/bin/env bash
# Installs what is missing, idempotently: system packages, the Odoo 18.0
# source, a virtualenv with Odoo's and our requirements, and (when no
# database server is configured) starts the embedded PostgreSQL cluster.
set -euo pipefail
source "$(dirname "$0")/env.sh"

need_pkgs=()
for p in postgresql postgresql-contrib libpq-dev libldap2-dev libsasl2-dev git build-essential python3-dev python3-venv curl nginx prometheus squid iptables chromium pgbackrest busybox-static; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || ops_die "missing system packages (${need_pkgs[*]}); run as root or install them with apt-get"
  ops_log "installing system packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- Odoo sources ------------------------------------------------------------
# 18.0 runs the control plane and is the default runtime; 17.0 and 19.0 are
# what projects on other versions and the upgrade advisor build on (their
# images are built on first use, or ahead with `make runtime-images`).
[ -x "$ODOO_SRC/odoo-bin" ] || "$OPS_REPO/scripts/odoo-source.sh" 18.0
grep -q "version_info = (18, 0" "$ODOO_SRC/odoo/release.py" \
  || ops_die "$ODOO_SRC is not an Odoo 18.0 tree (odoo/release.py says otherwise)"
for version in $OPS_ODOO_VERSIONS; do
  src="$(ops_odoo_src "$version")"
  if [ ! -f "$src/odoo-bin" ] && ! "$OPS_REPO/scripts/odoo-source.sh" "$version" 2>/dev/null; then
    ops_log "warning: no Odoo $version tree at $src: projects on $version cannot build here" \
      "(scripts/odoo-source.sh $version says how to get one)"
  fi
done

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

# --- master password and Odoo configuration -----------------------------------
# A random master password made once per installation ($OPS_HOME/secrets,
# root only), and $OPS_CONF written from the repository's odoo.conf with its
# hash and the database manager off: every script runs Odoo with $OPS_CONF.
"$OPS_REPO/scripts/odoo-conf.sh"

# download_wheels DIR WHAT: each pin read on stdin (package==version), downloaded (--no-deps) into DIR once.
download_wheels() {
  local dir="$1" what="$2" pin
  mkdir -p "$dir"
  while read -r pin; do
    compgen -G "$dir/$(echo "${pin%%==*}" | tr - _)-${pin##*==}-*.whl" >/dev/null && continue
    ops_log "downloading $pin ($what) into $dir"
    "$OPS_VENV/bin/pip" download -q --no-deps --dest "$dir" "$pin" 2>"$dir/.pip.log" \
      || ops_log "warning: $pin could not be downloaded ($(tail -n 1 "$dir/.pip.log"))"
  done
}

# OpenUpgrade's wheels for the upgrade advisor, pinned per target version in
# the addon (services/odoo_versions.py): the scan reads which modules they
# merge or rename; a preview installs them (--no-deps) into its container.
"$OPS_VENV/bin/python" - "$OPS_REPO/addons/ipai_ops_core/services/odoo_versions.py" <<'PY' \
  | download_wheels "$OPS_ODOO_SOURCES/openupgrade" "OpenUpgrade; one missing is named by the upgrade advisor"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("odoo_versions", sys.argv[1])
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
for pins in module.OPENUPGRADE.values():
    for package, version in pins.items():
        print("%s==%s" % (package, version))
PY

# OCA wheels that the tests ship inside a repository (requirements.txt with --no-index --find-links), as an
# air-gapped project does: one release of date_range per series (tests/upgrade_fixture.py, OCA_RELEASES), and
# odoo-test-helper, which its tests import (OCA's test-requirements.txt).
printf '%s\n' odoo-addon-date-range==17.0.1.2.1.5 odoo-addon-date-range==18.0.5.0.2.2 \
  odoo-addon-date-range==19.0.1.0.1 odoo-test-helper==2.1.3 \
  | download_wheels "$OPS_ODOO_SOURCES/wheels" "an OCA wheel for the tests"

# A local S3-compatible server (moto) for the off-site backup tests, in a venv
# of its own so its web stack never meets Odoo's pinned one.
if [ ! -x "$OPS_MOTO_VENV/bin/moto_server" ]; then
  ops_log "installing moto (local S3-compatible server for the tests) into $OPS_MOTO_VENV"
  "$OPS_PYTHON" -m venv "$OPS_MOTO_VENV"
  "$OPS_MOTO_VENV/bin/pip" install -q 'moto[server]==5.0.28'
fi
# MkDocs for the user documentation (docs/, mkdocs.yml), in a venv of its
# own for the same reason.
if [ ! -x "$OPS_DOCS_VENV/bin/mkdocs" ]; then
  ops_log "installing MkDocs (the documentation site) into $OPS_DOCS_VENV"
  "$OPS_PYTHON" -m venv "$OPS_DOCS_VENV"
  "$OPS_DOCS_VENV/bin/pip" install -q 'mkdocs==1.6.1'
fi
# pylint-odoo (OCA's Odoo checks, .pylintrc) and OCA's checks of the XML,
# CSV and PO files (oca-odoo-pre-commit-hooks) for `make lint` and the suite,
# in a venv of its own: they read the code, they never import Odoo.
if [ ! -x "$OPS_LINT_VENV/bin/pylint" ] || [ ! -x "$OPS_LINT_VENV/bin/oca-checks-odoo-module" ]; then
  ops_log "installing pylint-odoo and OCA's module checks into $OPS_LINT_VENV"
  [ -x "$OPS_LINT_VENV/bin/pip" ] || "$OPS_PYTHON" -m venv "$OPS_LINT_VENV"
  "$OPS_LINT_VENV/bin/pip" install -q 'pylint-odoo==10.0.12' 'pylint==4.0.10' 'astroid==4.0.4' \
    'oca-odoo-pre-commit-hooks==0.2.27'
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
  # The other versions' images this host already has are rebuilt when their inputs changed (an update of the
  # platform): a run never uses an image an older version of it made. Missing ones are built on first use.
  for version in $OPS_ODOO_VERSIONS; do
    if [ "$version" != 18.0 ] && docker image inspect "ipai-ops/odoo:$version" >/dev/null 2>&1 \
        && [ -f "$(ops_odoo_src "$version")/odoo-bin" ]; then
      "$OPS_REPO/scripts/build-runtime-image.sh" "$version"
    fi
  done
fi

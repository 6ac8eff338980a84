#!/usr/bin/env bash
# Builds the runtime image of one Odoo version (default 18.0), offline:
#   scripts/build-runtime-image.sh [17.0|18.0|19.0]   -> ipai-ops/odoo:<version>
# The work is done by addons/ipai_ops_core/scripts/build_runtime_image.sh
# (also what a run calls when its project's image is missing): a Debian 12
# base made with debootstrap (once, shared), then the version's Odoo tree
# copied in, labelled with its version and source commit. Rebuilt only when
# its inputs change. Air-gapped hosts only need a Debian mirror
# (OPS_DEBIAN_MIRROR, default deb.debian.org).
set -euo pipefail
source "$(dirname "$0")/env.sh"
version="${1:-18.0}"
src="$(ops_odoo_src "$version")"
[ -x "$src/odoo-bin" ] || [ -f "$src/odoo-bin" ] || "$OPS_REPO/scripts/odoo-source.sh" "$version"
docker info >/dev/null 2>&1 || ops_die "the Docker engine is not running (scripts/docker.sh start)"
exec "$OPS_REPO/addons/ipai_ops_core/scripts/build_runtime_image.sh" --version "$version" --source "$src" \
  --image "${OPS_RUNTIME_IMAGE:-ipai-ops/odoo:$version}" --mirror "${OPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
  --work "$OPS_HOME"

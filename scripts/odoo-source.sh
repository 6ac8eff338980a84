#!/usr/bin/env bash
# Puts an Odoo Community tree of VERSION where the platform looks for it
# ($ODOO_SRC for 18.0, $OPS_ODOO_SOURCES/odoo-<version> for the others) and
# records where it came from (.ipai-ops-source: repository and commit; the
# runtime image is labelled with them).
#   scripts/odoo-source.sh 17.0
#   scripts/odoo-source.sh 17.0 GIT_DIR COMMIT   # from a local clone or mirror, exactly that commit
# Without GIT_DIR: a shallow clone of the version's branch of $ODOO_GIT_URL
# (github.com/odoo/odoo), the commit it got recorded.
set -euo pipefail
source "$(dirname "$0")/env.sh"
version="${1:?usage: odoo-source.sh VERSION [GIT_DIR COMMIT]}"
[[ " $OPS_ODOO_VERSIONS " == *" $version "* ]] || ops_die "unsupported Odoo version $version (supported: $OPS_ODOO_VERSIONS)"
dest="$(ops_odoo_src "$version")"
tmp="$dest.partial.$$"
trap 'rm -rf "$tmp"' EXIT
if [ -n "${2:-}" ]; then
  git_dir="$2" commit="${3:?a COMMIT is needed with GIT_DIR}"
  [[ "$commit" =~ ^[0-9a-f]{40}$ ]] || ops_die "COMMIT must be a full 40-character sha (got '$commit')"
  ops_log "exporting Odoo $version at $commit from $git_dir into $dest"
  mkdir -p "$tmp"
  git -C "$git_dir" archive "$commit" | tar -C "$tmp" -xf - || ops_die "git archive $commit failed in $git_dir"
  # Trees published with extra folders keep them off the addons path.
  rm -rf "$tmp/custom_modules" "$tmp/custom_addons" "$tmp/odoo.log"
  # Nightly-style trees (every addon under odoo/addons) bundle odoo/design-themes, another repository:
  # its themes stay out (theme_default belongs to Odoo itself).
  if [ -d "$tmp/odoo/addons/theme_common" ]; then
    find "$tmp/odoo/addons" -mindepth 1 -maxdepth 1 -type d \( -name 'theme_*' -o -name test_themes \) \
      ! -name theme_default -exec rm -rf {} +
  fi
  chmod +x "$tmp/odoo-bin"
  origin="$(git -C "$git_dir" remote get-url origin 2>/dev/null || echo "$git_dir")"
else
  ops_log "cloning branch $version of $ODOO_GIT_URL (shallow) into $dest"
  if ! git clone --quiet --depth 1 --branch "$version" "$ODOO_GIT_URL" "$tmp" 2>/dev/null; then
    ops_die "Odoo $version source not found at $dest ($([ "$version" = 18.0 ] && echo ODOO_SRC || echo OPS_ODOO_SOURCES)) and cloning $ODOO_GIT_URL failed (no network?).
  Put an Odoo $version Community tree there (the directory holding odoo-bin), for instance
  'scripts/odoo-source.sh $version GIT_DIR COMMIT' from a copy of a repository holding it
  (the README, 'Odoo versions', lists the commits this project is tested with)."
  fi
  commit="$(git -C "$tmp" rev-parse HEAD)"
  origin="$ODOO_GIT_URL"
  rm -rf "$tmp/.git"
fi
grep -q "version_info = (${version%%.*}, 0" "$tmp/odoo/release.py" \
  || ops_die "the tree is not Odoo $version (its odoo/release.py says otherwise)"
printf 'repository=%s\ncommit=%s\n' "$origin" "$commit" > "$tmp/.ipai-ops-source"
rm -rf "$dest"; mkdir -p "$(dirname "$dest")"; mv "$tmp" "$dest"
ops_log "Odoo $version at $dest (commit ${commit:0:12})"

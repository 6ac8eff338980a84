#!/usr/bin/env bash
# Builds a runtime image for one Odoo version without any registry, laid out
# like the official odoo image (entrypoint odoo, /mnt/extra-addons,
# /var/lib/odoo, /etc/odoo/odoo.conf, user odoo):
#   1. a base image (Debian 12 made with debootstrap, Odoo's Python
#      dependencies from Debian's python3-* packages), shared by every version;
#   2. the version's image FROM it, with the Odoo tree copied into /opt/odoo
#      and labelled with the version, the source commit and where it came from.
# Each is rebuilt only when its inputs change (IPAI_OPS_INPUTS in the image).
# Air-gapped hosts need a Debian mirror only (--mirror, default deb.debian.org).
#
#   build_runtime_image.sh --version 17.0 --source /opt/ipai-ops/odoo-17.0 \
#       --image ipai-ops/odoo:17.0 [--base ipai-ops/odoo-base:bookworm] [--mirror URL] [--work DIR]
#
# Called by scripts/build-runtime-image.sh (setup, make runtime-images) and by
# a run whose project's image is missing (executors/runtime_image.py).
set -euo pipefail
version="" source="" image="" base="ipai-ops/odoo-base:bookworm"
mirror="http://deb.debian.org/debian" work="${TMPDIR:-/tmp}"
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --source) source="$2"; shift 2 ;;
    --image) image="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --mirror) mirror="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
log() { printf '[runtime-image] %s\n' "$*" >&2; }
die() { printf '[runtime-image] error: %s\n' "$*" >&2; exit 1; }
[[ "$version" =~ ^[0-9]{2}\.0$ ]] || die "--version must look like 18.0 (got '$version')"
[ -n "$image" ] || die "--image is required"
[ -x "$source/odoo-bin" ] || [ -f "$source/odoo-bin" ] \
  || die "no Odoo $version source at $source (the directory holding odoo-bin); see the README, 'Odoo versions'"
grep -q "version_info = (${version%%.*}, 0" "$source/odoo/release.py" \
  || die "$source is not an Odoo $version tree (its odoo/release.py says otherwise)"
command -v docker >/dev/null || die "the docker CLI is missing"
docker info >/dev/null 2>&1 || die "the Docker engine is not running"

inputs_of() { docker image inspect "$1" --format '{{range .Config.Env}}{{println .}}{{end}}' 2>/dev/null \
  | sed -n 's/^IPAI_OPS_INPUTS=//p' || true; }

# --- 1. the base image ------------------------------------------------------
# The union of Odoo 17, 18 and 19's Depends (debian/control, Debian 12 names).
# --include does not resolve virtual packages: python3-cryptography needs python3-cffi-backend.
# iptables: the swarm nodes' guard (services/swarm_guard.py) runs in this image, with the node's network.
packages=(
  ca-certificates adduser curl fonts-dejavu-core fonts-inconsolata fonts-font-awesome fonts-roboto-unhinted
  gsfonts libjs-underscore postgresql-client python3 python3-asn1crypto python3-babel python3-cbor2
  python3-chardet python3-cryptography python3-cffi-backend python3-dateutil python3-decorator
  python3-docutils python3-freezegun python3-geoip2 python3-gevent python3-greenlet python3-idna python3-pil
  python3-jinja2 python3-libsass python3-lxml python3-magic python3-markupsafe python3-num2words
  python3-ofxparse python3-openpyxl python3-passlib python3-polib python3-psutil python3-psycopg2
  python3-openssl python3-pypdf2 python3-rjsmin python3-qrcode python3-renderpm python3-reportlab
  python3-requests python3-stdnum python3-tz python3-urllib3 python3-vobject python3-werkzeug
  python3-xlsxwriter python3-xlrd python3-zeep python3-pip
  iptables
)
base_script="$(sed -n '/^# --- 1\./,/^# --- 2\./p' "$0")"
base_inputs="$( { printf '%s\n' "$base_script" "${packages[@]}"; } | sha256sum | cut -c1-32)"
if [ "$(inputs_of "$base")" != "$base_inputs" ]; then
  command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
  log "building the base image $base offline (debootstrap, about 3 minutes)"
  tmp="$(mktemp -d "$work/rootfs.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  rootfs="$tmp/rootfs"
  include="$(IFS=,; echo "${packages[*]}")"
  debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" > "$tmp/debootstrap.log" 2>&1 \
    || { tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap failed (mirror $mirror)"; }
  chroot "$rootfs" /usr/sbin/groupadd --system --gid 101 odoo
  chroot "$rootfs" /usr/sbin/useradd --system --uid 101 --gid 101 --home-dir /var/lib/odoo --shell /bin/bash odoo
  mkdir -p "$rootfs/opt/odoo" "$rootfs/mnt/extra-addons" "$rootfs/var/lib/odoo" "$rootfs/etc/odoo"
  cat > "$rootfs/usr/bin/odoo" <<'SH'
#!/bin/sh
exec python3 /opt/odoo/odoo-bin "$@"
SH
  chmod 755 "$rootfs/usr/bin/odoo"
  cat > "$rootfs/etc/odoo/odoo.conf" <<'CONF'
[options]
addons_path = /mnt/extra-addons,/opt/odoo/addons
data_dir = /var/lib/odoo
CONF
  chroot "$rootfs" chown -R odoo:odoo /mnt/extra-addons /var/lib/odoo /etc/odoo
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf - . | docker import \
    --change 'ENTRYPOINT ["/usr/bin/odoo"]' \
    --change 'USER odoo' \
    --change 'WORKDIR /var/lib/odoo' \
    --change 'EXPOSE 8069 8071 8072' \
    --change 'ENV ODOO_RC=/etc/odoo/odoo.conf' \
    --change "ENV IPAI_OPS_INPUTS=$base_inputs" \
    - "$base" >/dev/null
  rm -rf "$tmp"; trap - EXIT
fi
# --- 2. the version's image -------------------------------------------------
# Where the tree came from: scripts/odoo-source.sh writes .ipai-ops-source
# (repository and commit); a git checkout says its own HEAD.
commit="" origin=""
if [ -f "$source/.ipai-ops-source" ]; then
  commit="$(sed -n 's/^commit=//p' "$source/.ipai-ops-source")"
  origin="$(sed -n 's/^repository=//p' "$source/.ipai-ops-source")"
elif git -C "$source" rev-parse HEAD >/dev/null 2>&1; then
  commit="$(git -C "$source" rev-parse HEAD)"
  origin="$(git -C "$source" remote get-url origin 2>/dev/null || true)"
fi
[[ "$commit" =~ ^[0-9a-f]{7,40}$ ]] || commit="unknown"
fingerprint="$commit"
if [ "$commit" = unknown ]; then
  fingerprint="$(cd "$source" && find . -path ./.git -prune -o -type f -printf '%P %s %T@\n' | sort | sha256sum)"
fi
inputs="$( { sed -n '/^# --- 2\./,$p' "$0"; printf '%s\n' "$base_inputs" "$version" "$fingerprint" "$origin"; } \
  | sha256sum | cut -c1-32)"
if [ "$(inputs_of "$image")" = "$inputs" ]; then
  log "runtime image $image (Odoo $version, commit ${commit:0:12}) is up to date"
  exit 0
fi
log "building runtime image $image: Odoo $version from $source (commit ${commit:0:12})"
ctx="$(mktemp -d "$work/runtime-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
# The build context is a copy of the tree (its .git left out), never the
# tree itself: the Dockerfile and .dockerignore are written into the copy.
mkdir "$ctx/tree"
tar -C "$source" --exclude=./.git --exclude=./.ipai-ops-source -cf - . | tar -C "$ctx/tree" -xf -
printf 'Dockerfile\n.dockerignore\n' > "$ctx/tree/.dockerignore"
# pip knows Odoo as an installed distribution "odoo" of this version, as after `pip install -e`: the
# OCA's wheels (odoo-addon-*, which require odoo==<series>.*) then install from a requirements.txt, and
# one written for another series is refused by pip.
cat > "$ctx/tree/Dockerfile" <<DOCKERFILE
FROM $base
COPY . /opt/odoo/
USER root
RUN d="\$(python3 -c 'import site; print(site.getsitepackages()[0])')/odoo-$version.dist-info" \\
    && mkdir -p "\$d" && printf 'Metadata-Version: 2.1\\nName: odoo\\nVersion: $version\\n' > "\$d/METADATA" \\
    && printf 'ipai-ops\\n' > "\$d/INSTALLER" && : > "\$d/RECORD"
USER odoo
LABEL org.opencontainers.image.title="Odoo" org.opencontainers.image.version="$version" \\
      org.opencontainers.image.revision="$commit" org.opencontainers.image.source="$origin" \\
      ipai-ops.odoo.version="$version" ipai-ops.odoo.commit="$commit" ipai-ops.odoo.source="$origin"
ENV IPAI_OPS_INPUTS=$inputs IPAI_OPS_ODOO_VERSION=$version
DOCKERFILE
docker build -q -t "$image" "$ctx/tree" >/dev/null 2>"$ctx/build.log" \
  || { tail -n 20 "$ctx/build.log" >&2; die "docker build of $image failed"; }
log "runtime image $image built ($(docker image inspect "$image" --format '{{.Size}}' | numfmt --to=iec))"

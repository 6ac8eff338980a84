#!/usr/bin/env bash
# Builds the runtime image (default ipai-ops/odoo:18.0) without any registry:
# a Debian 12 rootfs made with debootstrap, Odoo's Python dependencies from
# Debian's python3-* packages, the Odoo source from $ODOO_SRC, laid out like
# the official odoo:18.0 image (entrypoint odoo, /mnt/extra-addons,
# /var/lib/odoo, /etc/odoo/odoo.conf, user odoo). Air-gapped hosts only need
# a Debian mirror (OPS_DEBIAN_MIRROR, default deb.debian.org).
# Rebuilt only when its inputs change (this script, the package list, the
# Odoo tree): the image carries their hash in IPAI_OPS_INPUTS.
set -euo pipefail
source "$(dirname "$0")/env.sh"
image="${OPS_RUNTIME_IMAGE:-ipai-ops/odoo:18.0}"
mirror="${OPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
[ -x "$ODOO_SRC/odoo-bin" ] || ops_die "no Odoo source at ODOO_SRC=$ODOO_SRC (run scripts/setup.sh first)"
command -v debootstrap >/dev/null || ops_die "debootstrap is missing (apt-get install debootstrap)"
docker info >/dev/null 2>&1 || ops_die "the Docker engine is not running (scripts/docker.sh start)"

# Odoo 18's Depends from its debian/control (Debian 12 names). --include does
# not resolve virtual packages: python3-cryptography needs python3-cffi-backend.
packages=(
  ca-certificates adduser curl fonts-dejavu-core fonts-inconsolata fonts-font-awesome fonts-roboto-unhinted
  gsfonts libjs-underscore postgresql-client python3 python3-asn1crypto python3-babel python3-cbor2
  python3-chardet python3-cryptography python3-cffi-backend python3-dateutil python3-decorator
  python3-docutils python3-freezegun python3-geoip2 python3-gevent python3-greenlet python3-idna python3-pil
  python3-jinja2 python3-libsass python3-lxml python3-markupsafe python3-num2words python3-ofxparse
  python3-openpyxl python3-passlib python3-polib python3-psutil python3-psycopg2 python3-openssl
  python3-pypdf2 python3-rjsmin python3-qrcode python3-renderpm python3-reportlab python3-requests
  python3-stdnum python3-tz python3-urllib3 python3-vobject python3-werkzeug python3-xlsxwriter
  python3-xlrd python3-zeep python3-pip
)
odoo_fingerprint="$(git -C "$ODOO_SRC" rev-parse HEAD 2>/dev/null \
  || (cd "$ODOO_SRC" && find . -path ./.git -prune -o -type f -printf '%P %s %T@\n' | sort | sha256sum))"
inputs="$( { cat "$0"; printf '%s\n' "${packages[@]}" "$odoo_fingerprint"; } | sha256sum | cut -c1-32)"
current="$(docker image inspect "$image" --format '{{range .Config.Env}}{{println .}}{{end}}' 2>/dev/null \
  | sed -n 's/^IPAI_OPS_INPUTS=//p' || true)"
if [ "$current" = "$inputs" ]; then
  ops_log "runtime image $image is up to date"
  exit 0
fi

ops_log "building runtime image $image offline (debootstrap, about 3 minutes)"
work="$(mktemp -d "$OPS_HOME/rootfs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
include="$(IFS=,; echo "${packages[*]}")"
debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; ops_die "debootstrap failed (mirror $mirror)"; }

chroot "$rootfs" /usr/sbin/groupadd --system --gid 101 odoo
chroot "$rootfs" /usr/sbin/useradd --system --uid 101 --gid 101 --home-dir /var/lib/odoo --shell /bin/bash odoo
mkdir -p "$rootfs/opt/odoo" "$rootfs/mnt/extra-addons" "$rootfs/var/lib/odoo" "$rootfs/etc/odoo"
tar -C "$ODOO_SRC" --exclude=./.git -cf - . | tar -C "$rootfs/opt/odoo" -xf -
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
  --change "ENV IPAI_OPS_INPUTS=$inputs" \
  - "$image" >/dev/null
ops_log "runtime image $image built ($(docker image inspect "$image" --format '{{.Size}}' | numfmt --to=iec))"

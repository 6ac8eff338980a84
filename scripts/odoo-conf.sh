#!/usr/bin/env bash
# The control plane's master password and Odoo configuration (scripts/setup.sh
# runs this on every run; idempotent):
# - $OPS_HOME/secrets/master-password: a random password made once per
#   installation (directory 0700, file 0600), never in the repository;
# - $OPS_CONF (default $OPS_HOME/odoo.conf, mode 0600), written every time:
#   the repository's odoo.conf (the template) with list_db = False and
#   admin_passwd = its pbkdf2_sha512 hash (Odoo's own scheme).
# The password never appears on a command line: Python reads and writes the
# files itself.
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ -x "$OPS_VENV/bin/python" ] || ops_die "no virtualenv at $OPS_VENV (scripts/setup.sh makes it): cannot hash the master password"
"$OPS_VENV/bin/python" - "$OPS_REPO/odoo.conf" "$OPS_HOME/secrets" "$OPS_CONF" <<'PY'
import os
import re
import secrets
import sys

from passlib.context import CryptContext

template, secrets_dir, conf = sys.argv[1:]


def write_private(path, text, replace):
    """``text`` into ``path`` (mode 0600) through a file of its own, so that
    nobody ever reads half of it; ``replace`` False keeps an existing one."""
    partial = "%s.%d.partial" % (path, os.getpid())
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(partial, 0o600)
        if replace:
            os.replace(partial, path)
        else:
            try:
                os.link(partial, path)
            except FileExistsError:
                pass
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


os.makedirs(secrets_dir, mode=0o700, exist_ok=True)
os.chmod(secrets_dir, 0o700)
password_file = os.path.join(secrets_dir, "master-password")
write_private(password_file, secrets.token_urlsafe(32) + "\n", replace=False)  # once per installation
os.chmod(password_file, 0o600)
with open(password_file) as fh:
    password = fh.read().strip()
if len(password) < 16:
    sys.exit("[ipai-ops] error: %s holds no usable master password (fewer than 16 characters): remove it and "
             "run scripts/setup.sh again to make a new one" % password_file)
# The scheme and rounds of Odoo's own crypt_context (odoo/tools/config.py).
hashed = CryptContext(schemes=["pbkdf2_sha512"], pbkdf2_sha512__rounds=600_000).hash(password)

with open(template) as fh:
    lines = fh.read().splitlines()
option = re.compile(r"^\s*([A-Za-z_]+)\s*[=:]")
out = ["; Written by scripts/odoo-conf.sh from %s: change that file, not this one." % template]
for line in lines:
    name = option.match(line)
    if name and name.group(1) in ("admin_passwd", "list_db"):
        continue
    out.append(line)
    if line.strip() == "[options]":
        out += ["admin_passwd = %s" % hashed, "list_db = False"]
if "list_db = False" not in out:
    sys.exit("[ipai-ops] error: %s has no [options] section" % template)
os.makedirs(os.path.dirname(os.path.abspath(conf)), exist_ok=True)
write_private(conf, "\n".join(out) + "\n", replace=True)
PY

"""What an environment's containers know, and what its database lets in.

- Database credentials and the mail catcher login reach containers in the
  environment's Odoo configuration file (services/odoo_config.py), mounted
  read-only; never on a command line.
- Every database an environment serves gets the environment's own random
  administrator password, never Odoo's default ``admin``; the demo users'
  well-known passwords are replaced by random ones nobody knows.
- Staging's obfuscation key is random per build, handed to Odoo in a file
  and thrown away afterwards.
"""

import contextlib
import hashlib
import os
import secrets
import time

import psycopg2
from passlib.context import CryptContext

from ..services import naming, odoo_config
from . import network
from .paths import ODOO_UID, config_dir, run_secret_dir

# Odoo's own password hashing (odoo/addons/base/models/res_users.py).
_CRYPT = CryptContext(["pbkdf2_sha512", "plaintext"], deprecated=["plaintext"], pbkdf2_sha512__rounds=600_000)
DEMO_LOGINS = ("demo", "portal")


def _options(spec):
    """The environment's Odoo settings: the database server and the mail
    catcher as its network reaches them, its own role."""
    return odoo_config.environment_options(network.db_endpoint(spec), spec["db_role"], spec["db_role_password"],
                                           network.mail_endpoint(spec))


def config_volume(spec):
    """Write the environment's configuration file; its volume mapping."""
    path = odoo_config.write(config_dir(spec), "odoo.conf", _options(spec), ODOO_UID, ODOO_UID)
    return odoo_config.volume(path)


def config_text(spec):
    """The environment's configuration file's content (a swarm unit's secret)."""
    return odoo_config.render(_options(spec))


def role_connection(spec, dbname):
    """A connection to ``dbname`` as the environment's own role."""
    return psycopg2.connect(host=spec["db"]["host"], port=spec["db"]["port"], user=spec["db_role"],
                            password=spec["db_role_password"], dbname=naming.validate_db_name(dbname),
                            connect_timeout=10, application_name="ipai_ops")


def secure_admin(spec, dbname, only_if_default=False, password=None):
    """Give ``dbname``'s administrator the environment's own password (or
    ``password``, one a project admin chose).

    ``only_if_default``: leave a password someone chose alone (production
    after its first deploy) and only replace Odoo's default ``admin``.
    Returns True when the password was changed."""
    conn = role_connection(spec, dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute("""
                SELECT u.id, u.password FROM res_users u
                  JOIN ir_model_data d ON d.model = 'res.users' AND d.res_id = u.id
                 WHERE d.module = 'base' AND d.name = 'user_admin'
            """)
            row = cr.fetchone()
            if not row:
                return False
            if only_if_default and not (row[1] and _CRYPT.verify("admin", row[1])):
                return False
            cr.execute("UPDATE res_users SET password = %s WHERE id = %s",
                       [_CRYPT.hash(password or spec["admin_password"]), row[0]])
            # Demo data's users (demo/demo, portal/portal): nobody's password.
            cr.execute("UPDATE res_users SET password = %s WHERE login = ANY(%s) AND id != %s",
                       [_CRYPT.hash(secrets.token_urlsafe(24)), list(DEMO_LOGINS), row[0]])
    finally:
        conn.close()
    return True


class KeyFile:
    """A one-use secret for one container: a file readable by the
    container's user only, removed on exit (``with KeyFile(spec, name) as k``);
    ``value`` when given, else a random one."""

    def __init__(self, spec, name, value=None):
        self.directory = run_secret_dir(spec)
        self.name = name
        self.value = value or secrets.token_urlsafe(32)
        self.path = None

    def __enter__(self):
        self.path = odoo_config.write_secret(self.directory, self.name, self.value, ODOO_UID, ODOO_UID)
        return self

    def __exit__(self, *exc):
        for path in (self.path, self.directory):
            with contextlib.suppress(OSError):  # gone already
                os.unlink(path) if path == self.path else os.rmdir(path)
        self.value = None


CONNECT_PREFIX = "ipai_ops.connect."  # env_addons/ipai_ops_connect reads the same keys


def connect_token(spec, dbname, ttl):
    """A single-use login token for ``dbname``'s administrator, valid ``ttl``
    seconds: its SHA-256 and expiry are stored in that database only (where
    the environment's ipai_ops_connect takes it once); the token itself is
    returned and kept nowhere."""
    token = secrets.token_urlsafe(32)
    conn = role_connection(spec, dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute("INSERT INTO ir_config_parameter (key, value, create_date, write_date) "
                       "VALUES (%s, %s, now() at time zone 'UTC', now() at time zone 'UTC')",
                       [CONNECT_PREFIX + hashlib.sha256(token.encode()).hexdigest(), "%.3f" % (time.time() + ttl)])
    finally:
        conn.close()
    return token

"""Shared by the PostgreSQL service: validation, connections, errors."""

import contextlib
import re

import psycopg2

from .. import naming

# Never created, dropped or listed by this module.
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})
RESERVED_ROLES = frozenset({"postgres", "public", "none", "current_user", "current_role", "session_user"})
CONNECT_TIMEOUT = 10
# How many times a template copy is retried after terminating the
# template's connections (new ones may arrive in between).
TEMPLATE_COPY_ATTEMPTS = 5

_ADMIN_KEYS = ("host", "port", "user", "password", "dbname", "sslmode", "connect_timeout")
_PREFIX_RE = re.compile(r"^[a-z0-9_]{0,63}$")


class PostgresError(Exception):
    """A database operation failed; ``str(error)`` is meant for the user."""


# --------------------------------------------------------------------------
# Validation and connections
# --------------------------------------------------------------------------

def _params(admin):
    if not isinstance(admin, dict):
        raise ValueError("Connection parameters must be a dict with host, port, user and password.")
    unknown = sorted(set(admin) - set(_ADMIN_KEYS))
    if unknown:
        raise ValueError("Unknown connection parameter(s): %s." % ", ".join(unknown))
    if not admin.get("user"):
        raise ValueError("Connection parameters lack a user.")
    # No password (False from Odoo's configuration): libpq takes PGPASSWORD or .pgpass.
    params = {key: admin[key] for key in _ADMIN_KEYS if admin.get(key) not in (None, "", False)}
    params.setdefault("dbname", "postgres")
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    params["application_name"] = "ipai_ops"
    return params


def _validate_name(name):
    naming.validate_db_name(name)
    # naming's pattern ends with "$", which also matches before a final newline.
    if not naming.DB_NAME_RE.fullmatch(name):
        raise ValueError("Invalid name %r." % (name,))
    return name


def _validate_database(name):
    _validate_name(name)
    if name in RESERVED_DATABASES:
        raise ValueError("Database name %r is reserved." % name)
    return name


def _validate_role(role):
    _validate_name(role)
    if role.startswith("pg_") or role in RESERVED_ROLES:
        raise ValueError("Role name %r is reserved." % role)
    return role


def _not_admin(role, params):
    if role == params["user"]:
        raise ValueError("Role %r is the admin connection's own user; refusing to change it." % role)


def _message(exc):
    diag = getattr(exc, "diag", None)
    text = diag.message_primary if diag is not None else None
    if not text:
        lines = str(exc).strip().splitlines()
        text = lines[0] if lines else exc.__class__.__name__
    detail = diag.message_detail if diag is not None else None
    return "%s (%s)" % (text, detail) if detail else text


@contextlib.contextmanager
def _cursor(admin):
    params = _params(admin)
    try:
        conn = psycopg2.connect(**params)
    except psycopg2.Error as exc:
        raise PostgresError(
            "Cannot connect to PostgreSQL at %s:%s as %s: %s"
            % (params.get("host", "local socket"), params.get("port", 5432), params["user"], _message(exc))
        ) from exc
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            yield cr
    finally:
        conn.close()


def _execute(cr, query, args=None, what=None):
    """Execute, turning any database error into a :class:`PostgresError`."""
    try:
        cr.execute(query, args)
    except psycopg2.Error as exc:
        raise PostgresError("%s: %s" % (what, _message(exc)) if what else _message(exc)) from exc


def _role_attributes(cr, role):
    cr.execute(
        "SELECT rolsuper, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = %s", (role,)
    )
    return cr.fetchone()


def _exists(cr, name):
    cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    return cr.fetchone() is not None


def _other_connections(cr, dbname):
    # Client sessions only: PostgreSQL itself stops autovacuum workers that
    # are in the way of a template copy (and a non-superuser may not).
    cr.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'",
        (dbname,),
    )
    return [row[0] for row in cr.fetchall()]


def _terminate(cr, dbname):
    """Terminate the other connections to ``dbname``; how many there were."""
    pids = _other_connections(cr, dbname)
    for pid in pids:
        if cr.connection.server_version >= 140000:
            query, args = "SELECT pg_terminate_backend(%s, 5000)", (pid,)
        else:
            query, args = "SELECT pg_terminate_backend(%s)", (pid,)
        _execute(cr, query, args, what="Cannot terminate connection %d to database %s" % (pid, dbname))
    return len(pids)


# --------------------------------------------------------------------------

def _owner(cr, name):
    cr.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,))
    row = cr.fetchone()
    return row[0] if row else None

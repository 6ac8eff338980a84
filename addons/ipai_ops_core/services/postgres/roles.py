"""PostgreSQL roles: an environment's LOGIN role, a project's NOLOGIN template owner."""

import psycopg2
from psycopg2 import errors, extensions, sql

from ._base import (
    _PREFIX_RE,
    PostgresError,
    _cursor,
    _execute,
    _message,
    _not_admin,
    _params,
    _role_attributes,
    _validate_name,
    _validate_role,
)


def ensure_role(admin, role, password, login=True):
    """Create or update the LOGIN role ``role`` with ``password``; return True when created.

    With ``login=False`` (and no password) the role is a NOLOGIN owner of
    objects nobody connects as (a project's build templates).

    The role gets NOSUPERUSER NOCREATEDB NOCREATEROLE, and the admin
    connection's user becomes a member of it (``GRANT role TO CURRENT_USER``)
    so that it can create databases owned by it. The password is hashed on
    the client (the server's ``password_encryption``, SCRAM by default), so
    it never appears in clear in a statement or a server log. An existing
    superuser, replication or BYPASSRLS role is refused, not altered.
    """
    _validate_role(role)
    if login and (not isinstance(password, str) or not password or "\x00" in password or len(password) > 1024):
        raise ValueError("Role password must be a non-empty string of at most 1024 characters.")
    params = _params(admin)
    _not_admin(role, params)
    ident = sql.Identifier(role)
    with _cursor(admin) as cr:
        # One change to a role at a time (two runs of an environment may
        # ensure it together; concurrent ALTER ROLEs fail with "tuple
        # concurrently updated"). Released with the connection.
        cr.execute("SELECT pg_advisory_lock(hashtext(%s))", ("ipai_ops role " + role,))
        verifier = None
        if login:
            try:
                verifier = extensions.encrypt_password(password, role, cr.connection)
            except psycopg2.Error as exc:
                raise PostgresError("Cannot hash the password of role %s: %s" % (role, _message(exc))) from exc
        login_sql = sql.SQL("LOGIN PASSWORD %s" if login else "NOLOGIN PASSWORD NULL")
        args = (verifier,) if login else None
        created = False
        attributes = _role_attributes(cr, role)
        if attributes is None:
            try:
                cr.execute(
                    sql.SQL("CREATE ROLE {} WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                            "NOBYPASSRLS INHERIT {}").format(ident, login_sql),
                    args,
                )
                created = True
            except errors.DuplicateObject:  # created by someone else in between
                attributes = _role_attributes(cr, role)
            except psycopg2.Error as exc:
                raise PostgresError("Cannot create role %s: %s" % (role, _message(exc))) from exc
        if not created:
            if attributes and any(attributes):
                raise PostgresError(
                    "Role %s exists with SUPERUSER, REPLICATION or BYPASSRLS; refusing to use it for a project."
                    % role
                )
            # NOSUPERUSER / NOREPLICATION / NOBYPASSRLS may not be named by a
            # non-superuser in ALTER ROLE; the check above covers them.
            _execute(
                cr,
                sql.SQL("ALTER ROLE {} WITH NOCREATEDB NOCREATEROLE {}").format(ident, login_sql),
                args,
                what="Cannot update role %s" % role,
            )
        _execute(cr, sql.SQL("GRANT {} TO CURRENT_USER").format(ident),
                 what="Cannot make the admin user a member of role %s" % role)
    return created


def role_exists(admin, role):
    _validate_name(role)
    with _cursor(admin) as cr:
        cr.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        return cr.fetchone() is not None


def drop_role(admin, role):
    """Drop ``role`` if it owns no database; return False when it did not exist.

    A role that still owns a database, or objects or privileges elsewhere,
    raises :class:`PostgresError` naming them.
    """
    _validate_role(role)
    _not_admin(role, _params(admin))
    with _cursor(admin) as cr:
        attributes = _role_attributes(cr, role)
        if attributes is None:
            return False
        if attributes[0]:
            raise PostgresError("Role %s is a superuser; refusing to drop it." % role)
        cr.execute(
            "SELECT d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
            "WHERE r.rolname = %s ORDER BY d.datname",
            (role,),
        )
        owned = [row[0] for row in cr.fetchall()]
        if owned:
            raise PostgresError(
                "Role %s still owns database(s) %s: drop them first." % (role, ", ".join(owned))
            )
        _execute(cr, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)), what="Cannot drop role %s" % role)
    return True


# --------------------------------------------------------------------------

def list_roles(admin, prefix):
    """Sorted names of the roles starting with ``prefix``."""
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix) or not prefix:
        raise ValueError("Invalid role prefix %r: lowercase letters, digits and underscores only." % (prefix,))
    with _cursor(admin) as cr:
        cr.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY rolname", (prefix,))
        return [row[0] for row in cr.fetchall()]

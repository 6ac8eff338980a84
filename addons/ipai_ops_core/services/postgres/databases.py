"""PostgreSQL databases: create (reachable only by their owner), copy, drop (checking the owner), list, describe."""

import contextlib
import time

import psycopg2
from psycopg2 import errors, sql

from ._base import (
    _PREFIX_RE,
    RESERVED_DATABASES,
    TEMPLATE_COPY_ATTEMPTS,
    PostgresError,
    _cursor,
    _execute,
    _exists,
    _message,
    _other_connections,
    _owner,
    _params,
    _terminate,
    _validate_database,
    _validate_name,
    _validate_role,
)


def create_database(admin, name, owner, template=None, terminate_template_connections=False):
    """CREATE DATABASE ``name`` OWNER ``owner`` [TEMPLATE ``template``], reachable only by its owner.

    Without a template the database is created from ``template0`` with UTF8
    encoding and ``C`` collation (what Odoo does). Afterwards every privilege
    of ``PUBLIC`` on it is revoked (CONNECT and TEMPORARY) and CONNECT is
    granted to ``owner`` and to the admin user. If that fails, the new
    database is dropped again.

    Copying a template fails in PostgreSQL while anyone else is connected to
    it. With ``terminate_template_connections=True`` those connections are
    terminated first (and again, a few times, if new ones arrive); otherwise
    a :class:`PostgresError` says how many there are.
    """
    _validate_database(name)
    _validate_role(owner)
    if template is not None:
        _validate_name(template)
        if template == name:
            raise ValueError("A database cannot be its own template.")
    params = _params(admin)
    if template is not None and template == params["dbname"]:
        raise ValueError("Template %r is the admin connection's own database and cannot be copied." % template)
    ident = sql.Identifier(name)
    if template is None:
        query = sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'").format(
            ident, sql.Identifier(owner))
    else:
        query = sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(
            ident, sql.Identifier(owner), sql.Identifier(template))
    with _cursor(admin) as cr:
        attempts = TEMPLATE_COPY_ATTEMPTS if (template and terminate_template_connections) else 1
        for attempt in range(1, attempts + 1):
            if template and terminate_template_connections:
                _terminate(cr, template)
            try:
                cr.execute(query)
                break
            except errors.ObjectInUse as exc:
                others = len(_other_connections(cr, template)) if template else 0
                if not terminate_template_connections:
                    raise PostgresError(
                        "Cannot copy database %s: it is being accessed by %d other connection(s). Close them, "
                        "or pass terminate_template_connections=True to terminate them." % (template, others)
                    ) from exc
                if attempt == attempts:
                    raise PostgresError(
                        "Cannot copy database %s: new connections kept arriving after %d attempts to terminate "
                        "them." % (template, attempts)
                    ) from exc
                time.sleep(0.2 * attempt)
            except errors.DuplicateDatabase as exc:
                raise PostgresError("Database %s already exists." % name) from exc
            except errors.InvalidCatalogName as exc:
                raise PostgresError("Template database %s does not exist." % template) from exc
            except errors.UndefinedObject as exc:
                raise PostgresError("Cannot create database %s: %s" % (name, _message(exc))) from exc
            except psycopg2.Error as exc:
                raise PostgresError("Cannot create database %s: %s" % (name, _message(exc))) from exc
        try:
            cr.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
            cr.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(ident, sql.Identifier(owner)))
            cr.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO CURRENT_USER").format(ident))
        except psycopg2.Error as exc:
            with contextlib.suppress(psycopg2.Error):
                cr.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            raise PostgresError(
                "Cannot restrict access to database %s (dropped again): %s" % (name, _message(exc))
            ) from exc


def drop_database(admin, name, owner=None):
    """DROP DATABASE IF EXISTS ``name`` WITH (FORCE); return whether it existed.

    Open connections to it are terminated by PostgreSQL (13 or later). With
    ``owner`` (a role name, or several), a database that exists and belongs
    to any other role is refused with a :class:`PostgresError`, loudly: the
    caller was about to drop something that is not its own.
    """
    _validate_database(name)
    params = _params(admin)
    if name == params["dbname"]:
        raise ValueError("Database %r is the admin connection's own database." % name)
    if owner is None:
        owners = None
    elif isinstance(owner, str):
        owners = {owner}
    elif isinstance(owner, (set, frozenset, list, tuple)) and owner:
        owners = set(owner)
    else:
        raise ValueError("owner must be a role name or a non-empty set of them, not %r." % (owner,))
    for role in owners or ():
        _validate_role(role)
    with _cursor(admin) as cr:
        if cr.connection.server_version < 130000:
            raise PostgresError("Dropping a database WITH (FORCE) needs PostgreSQL 13 or later.")
        existed = _exists(cr, name)
        if existed and owners is not None:
            actual = _owner(cr, name)
            if actual not in owners:
                raise PostgresError("Refusing to drop database %s: it belongs to role %s, not to %s."
                                    % (name, actual, " or ".join(sorted(owners))))
        try:
            cr.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except errors.InsufficientPrivilege:
            # FORCE refuses when a process we may not signal is connected:
            # an autovacuum worker (a superuser process) on a freshly restored
            # database. A plain DROP stops autovacuum by itself; the client
            # sessions are ours to terminate first.
            for attempt in range(TEMPLATE_COPY_ATTEMPTS):
                _terminate(cr, name)
                try:
                    cr.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                    break
                except errors.ObjectInUse as exc:
                    if attempt == TEMPLATE_COPY_ATTEMPTS - 1:
                        raise PostgresError("Cannot drop database %s: %s" % (name, _message(exc))) from exc
                    time.sleep(0.5)
                except psycopg2.Error as exc:
                    raise PostgresError("Cannot drop database %s: %s" % (name, _message(exc))) from exc
        except psycopg2.Error as exc:
            raise PostgresError("Cannot drop database %s: %s" % (name, _message(exc))) from exc
    return existed




def database_owner(admin, name):
    """The role owning database ``name``, or None when there is no such database."""
    _validate_name(name)
    with _cursor(admin) as cr:
        return _owner(cr, name)


def database_exists(admin, name):
    _validate_name(name)
    with _cursor(admin) as cr:
        return _exists(cr, name)


def list_databases(admin, prefix):
    """Sorted names of the databases starting with ``prefix`` (no templates, no reserved names)."""
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise ValueError("Invalid database prefix %r: lowercase letters, digits and underscores only." % (prefix,))
    with _cursor(admin) as cr:
        # starts_with, not LIKE: "_" is a LIKE wildcard.
        cr.execute(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND starts_with(datname, %s) "
            "AND datname <> ALL(%s) ORDER BY datname",
            (prefix, sorted(RESERVED_DATABASES)),
        )
        return [row[0] for row in cr.fetchall()]


def database_size(admin, name):
    """Size of database ``name`` in bytes."""
    _validate_name(name)
    with _cursor(admin) as cr:
        if not _exists(cr, name):
            raise PostgresError("Database %s does not exist." % name)
        _execute(cr, "SELECT pg_database_size(%s::name)", (name,), what="Cannot measure database %s" % name)
        return int(cr.fetchone()[0])


def database_activity(admin, name):
    """What happens in database ``name`` now (the monitoring collector):
    {"db_bytes", "db_connections", "lock_waits" (sessions waiting on a
    lock), "longest_xact_s" (the oldest open transaction)}; None when the
    database does not exist."""
    _validate_name(name)
    with _cursor(admin) as cr:
        if not _exists(cr, name):
            return None
        _execute(cr, """
            SELECT pg_database_size(%s::name),
                   (SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()),
                   (SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'),
                   (SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0) FROM pg_stat_activity
                     WHERE datname = %s AND state <> 'idle' AND pid <> pg_backend_pid())""",
                 (name, name, name, name), what="Cannot read the activity of database %s" % name)
        size, connections, waits, longest = cr.fetchone()
        return {"db_bytes": int(size), "db_connections": connections, "lock_waits": waits,
                "longest_xact_s": round(float(longest), 1)}


def set_database_comment(admin, name, comment):
    """COMMENT ON DATABASE: where a build template keeps what it was made from."""
    _validate_database(name)
    with _cursor(admin) as cr:
        _execute(cr, sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(name)), [comment],
                 what="comment on database %s" % name)


def database_comment(admin, name):
    """The database's comment, or None (also when it does not exist)."""
    _validate_name(name)
    with _cursor(admin) as cr:
        cr.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name])
        row = cr.fetchone()
        return row[0] if row else None





def databases_owned_by(admin, role):
    """Names of the databases ``role`` owns (the project's own databases)."""
    _validate_role(role)
    with _cursor(admin) as cr:
        cr.execute("SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s ORDER BY datname", [role])
        return [row[0] for row in cr.fetchall()]

@contextlib.contextmanager
def advisory_lock(admin, key):
    """Hold a PostgreSQL session advisory lock on ``key`` (any text) for the
    block: one holder at a time across every worker of every host sharing
    the server (two builds saving the same template, say)."""
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ValueError("Invalid lock key %r." % (key,))
    with _cursor(admin) as cr:
        cr.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            cr.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def revoke_public_connect(admin, name):
    """REVOKE CONNECT ON DATABASE ``name`` FROM PUBLIC (the control plane's
    own database: no environment's role may even connect to it)."""
    _validate_name(name)
    with _cursor(admin) as cr:
        _execute(cr, sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)),
                 what="Cannot revoke CONNECT on %s" % name)

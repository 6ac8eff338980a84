"""PostgreSQL roles and databases of the projects, through psycopg2.

Plain values in: ``admin`` is a dict of connection parameters
(``host``, ``port``, ``user``, ``password``; optionally ``dbname``, the
maintenance database, default ``postgres``, ``sslmode`` and
``connect_timeout``). Every function opens and closes its own connection in
autocommit mode (CREATE / DROP DATABASE cannot run in a transaction).

Every name is validated with :mod:`naming` before a connection is opened,
and reaches SQL only through :class:`psycopg2.sql.Identifier`; values (such
as passwords) only as query parameters.

Isolation model: each project has a LOGIN role (no superuser, no CREATEDB,
no CREATEROLE) owning its databases; ``CONNECT`` on those databases is
revoked from ``PUBLIC``, so one project's role cannot connect to another
project's database. The admin user is made a member of every project role,
which is what lets it create, copy and drop databases owned by them.
"""

import contextlib
import re
import time

import psycopg2
from psycopg2 import errors, extensions, sql

from . import naming

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
# Roles
# --------------------------------------------------------------------------

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
# Databases
# --------------------------------------------------------------------------

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


def _owner(cr, name):
    cr.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,))
    row = cr.fetchone()
    return row[0] if row else None


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



def list_roles(admin, prefix):
    """Sorted names of the roles starting with ``prefix``."""
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix) or not prefix:
        raise ValueError("Invalid role prefix %r: lowercase letters, digits and underscores only." % (prefix,))
    with _cursor(admin) as cr:
        cr.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY rolname", (prefix,))
        return [row[0] for row in cr.fetchall()]


def databases_owned_by(admin, role):
    """Names of the databases ``role`` owns (the project's own databases)."""
    _validate_role(role)
    with _cursor(admin) as cr:
        cr.execute("SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s ORDER BY datname", [role])
        return [row[0] for row in cr.fetchall()]


# --------------------------------------------------------------------------
# Ownership of the objects inside a database
# --------------------------------------------------------------------------

_RELATION_KINDS = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE",
                   "f": "FOREIGN TABLE", "c": "TYPE"}


def _owned_objects(cr, role):
    """(catalog, oid) of every object of the current database ``role`` owns."""
    cr.execute("""
        SELECT d.classid::regclass::text, d.objid
          FROM pg_shdepend d
         WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND d.refclassid = 'pg_authid'::regclass AND d.deptype = 'o'
           AND d.refobjid = (SELECT oid FROM pg_roles WHERE rolname = %s)
         ORDER BY 1, 2
    """, (role,))
    return cr.fetchall()


def _alter_owner_statement(cr, catalog, oid, new_ident):
    """The ALTER ... OWNER TO statement for one object, or None when the
    object follows another one (a sequence owned by a table column, an
    array type). Names come from the catalog, quoted by PostgreSQL itself."""
    if catalog == "pg_class":
        cr.execute("""
            SELECT c.relkind, n.nspname, c.relname,
                   EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s
        """, (oid,))
        kind, schema, name, follows = cr.fetchone()
        if kind in ("i", "I", "t") or (kind == "S" and follows):
            return None
        if kind not in _RELATION_KINDS:
            raise PostgresError("Cannot change the owner of relation %s.%s (kind %s)." % (schema, name, kind))
        return sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(_RELATION_KINDS[kind]),
                                                         sql.Identifier(schema, name), new_ident)
    if catalog == "pg_proc":
        cr.execute("SELECT %s::regprocedure::text", (oid,))
        return sql.SQL("ALTER ROUTINE {} OWNER TO {}").format(sql.SQL(cr.fetchone()[0]), new_ident)
    if catalog == "pg_type":
        cr.execute("SELECT typtype, typrelid, typelem, typcategory, %s::regtype::text FROM pg_type WHERE oid = %s",
                   (oid, oid))
        typtype, relid, _elem, category, text = cr.fetchone()
        if relid or category == "A":
            return None  # a relation's row type or an array type: follows its owner
        keyword = "DOMAIN" if typtype == "d" else "TYPE"
        return sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(keyword), sql.SQL(text), new_ident)
    if catalog == "pg_namespace":
        cr.execute("SELECT nspname FROM pg_namespace WHERE oid = %s", (oid,))
        return sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(cr.fetchone()[0]), new_ident)
    if catalog == "pg_largeobject":
        return sql.SQL("ALTER LARGE OBJECT {} OWNER TO {}").format(sql.Literal(int(oid)), new_ident)
    raise PostgresError("Cannot change the owner of a %s object (oid %s)." % (catalog, oid))


def reassign_objects(admin, dbname, old_role, new_role):
    """Give every object of database ``dbname`` that ``old_role`` owns to
    ``new_role``, in one transaction; return how many statements ran.

    This is what a copy made with ``CREATE DATABASE ... TEMPLATE`` needs: the
    files are copied as they are, so the tables still belong to the
    template's role. Unlike ``REASSIGN OWNED``, it never touches shared
    objects: the other databases ``old_role`` owns stay its own. The admin
    user needs to be a member of both roles (``ensure_role`` makes it one).
    """
    _validate_database(dbname)
    _validate_role(old_role)
    _validate_role(new_role)
    if old_role == new_role:
        return 0
    params = dict(_params(admin), dbname=dbname)
    try:
        conn = psycopg2.connect(**params)
    except psycopg2.Error as exc:
        raise PostgresError("Cannot connect to database %s: %s" % (dbname, _message(exc))) from exc
    new_ident = sql.Identifier(new_role)
    done = 0
    try:
        with conn, conn.cursor() as cr:
            for catalog, oid in _owned_objects(cr, old_role):
                statement = _alter_owner_statement(cr, catalog, oid, new_ident)
                if statement is not None:
                    _execute(cr, statement, what="Cannot give %s %s to %s" % (catalog, oid, new_role))
                    done += 1
            left = _owned_objects(cr, old_role)
            if left:
                raise PostgresError("Objects of %s still belong to %s after the transfer: %s" % (
                    dbname, old_role, ", ".join("%s %s" % row for row in left[:5])))
    finally:
        conn.close()
    return done


def adopt_database(admin, name, role):
    """Make ``role`` the owner of database ``name`` and of everything in it
    (a database an older installation's shared project role owned, brought
    back by a rollback). Returns the previous owner."""
    _validate_database(name)
    _validate_role(role)
    ident = sql.Identifier(name)
    with _cursor(admin) as cr:
        previous = _owner(cr, name)
        if previous is None:
            raise PostgresError("Database %s does not exist." % name)
        if previous != role:
            _execute(cr, sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident, sql.Identifier(role)),
                     what="Cannot give database %s to %s" % (name, role))
            _execute(cr, sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC, {}").format(ident, sql.Identifier(previous)))
            _execute(cr, sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(ident, sql.Identifier(role)))
    if previous != role:
        reassign_objects(admin, name, previous, role)
    return previous


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

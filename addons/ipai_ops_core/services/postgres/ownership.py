"""Ownership of the objects inside a database: handed over after a file-level copy."""

import psycopg2
from psycopg2 import sql

from ._base import PostgresError, _cursor, _execute, _message, _owner, _params, _validate_database, _validate_role

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

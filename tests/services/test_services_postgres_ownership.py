"""Ownership inside databases, against the real server: template copies
handed over object by object, drops that check the owner, adoption of an
older installation's database, concurrent role changes."""

import secrets

import psycopg2
import pytest
from odoo.addons.ipai_ops_core.services import postgres
from odoo.addons.ipai_ops_core.tests.pg_helpers import _admin, _connect, pg_fixtures
from psycopg2 import sql

admin_fixture, names_fixture = pg_fixtures()

def _owners(dbname):
    conn = _connect(_admin()["user"], _admin()["password"], dbname)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n "
                       "ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
            return {row[0] for row in cr.fetchall()}
    finally:
        conn.close()


def test_a_template_copy_is_handed_over_to_its_new_owner(admin, names):
    """CREATE DATABASE ... TEMPLATE copies files: every table still belongs
    to the template's role until reassign_objects hands it over, without
    touching the other databases the old role owns."""
    tpl_role, env_role = names("tpl"), names("env")
    template, copy, kept = names("template"), names("copy"), names("kept")
    pw = secrets.token_urlsafe(16)
    postgres.ensure_role(admin, tpl_role, None, login=False)
    postgres.ensure_role(admin, env_role, pw)
    postgres.create_database(admin, template, tpl_role)
    postgres.create_database(admin, kept, tpl_role)
    conn = _connect(admin["user"], admin["password"], template)
    with conn, conn.cursor() as cr:
        cr.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(tpl_role)))
        cr.execute("""
            CREATE TABLE partner (id serial PRIMARY KEY, name text);
            CREATE SEQUENCE free_seq;
            CREATE VIEW partner_names AS SELECT name FROM partner;
            CREATE TYPE mood AS ENUM ('ok', 'ko');
            CREATE DOMAIN short_text AS varchar(10);
            CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql AS 'SELECT upper(t)';
            INSERT INTO partner (name) VALUES ('Acme');
        """)
    conn.close()
    # nobody logs in with a NOLOGIN template role
    with pytest.raises(psycopg2.OperationalError):
        _connect(tpl_role, "", template).close()

    postgres.create_database(admin, copy, env_role, template=template)
    assert _owners(copy) == {tpl_role}, "a fresh copy still belongs to the template's role"
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        conn = _connect(env_role, pw, copy)
        try:
            with conn.cursor() as cr:
                cr.execute("INSERT INTO partner (name) VALUES ('x')")
        finally:
            conn.close()

    assert postgres.reassign_objects(admin, copy, tpl_role, env_role) >= 5
    assert _owners(copy) == {env_role}
    conn = _connect(env_role, pw, copy)
    with conn, conn.cursor() as cr:
        cr.execute("INSERT INTO partner (name) VALUES (shout('globex')) RETURNING id")
        assert cr.fetchone()[0] == 2, "the serial's sequence moved with its table"
        cr.execute("SELECT nextval('free_seq'), 'ok'::mood, 'short'::short_text, count(*) FROM partner_names")
        assert cr.fetchone() == (1, "ok", "short", 2)
    conn.close()
    # The old role's other databases are still its own (REASSIGN OWNED would have moved them).
    assert postgres.database_owner(admin, kept) == tpl_role
    assert postgres.database_owner(admin, template) == tpl_role and _owners(template) == {tpl_role}
    assert postgres.reassign_objects(admin, copy, env_role, env_role) == 0


def test_drop_database_refuses_what_another_role_owns(admin, names):
    role_a, role_b = names("own_a"), names("own_b")
    db_b = names("db_of_b")
    postgres.ensure_role(admin, role_a, secrets.token_urlsafe(8))
    postgres.ensure_role(admin, role_b, secrets.token_urlsafe(8))
    postgres.create_database(admin, db_b, role_b)
    with pytest.raises(postgres.PostgresError, match="Refusing to drop database %s: it belongs to role %s"
                       % (db_b, role_b)):
        postgres.drop_database(admin, db_b, owner=role_a)
    assert postgres.database_exists(admin, db_b)
    assert postgres.drop_database(admin, names("never_made"), owner=role_a) is False
    assert postgres.drop_database(admin, db_b, owner={role_a, role_b}) is True


def test_adopt_database_moves_database_and_objects(admin, names):
    old, new = names("legacy"), names("newrole")
    db = names("adopted")
    pw_old, pw_new = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    postgres.ensure_role(admin, old, pw_old)
    postgres.ensure_role(admin, new, pw_new)
    postgres.create_database(admin, db, old)
    conn = _connect(old, pw_old, db)
    with conn, conn.cursor() as cr:
        cr.execute("CREATE TABLE t (x int)")
    conn.close()
    assert postgres.adopt_database(admin, db, new) == old
    assert postgres.database_owner(admin, db) == new and _owners(db) == {new}
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        _connect(old, pw_old, db).close()
    _connect(new, pw_new, db).close()


def test_concurrent_ensure_role_calls_do_not_collide(admin, names):
    """Two runs of one environment ensure its role at the same moment:
    concurrent ALTER ROLEs used to fail with 'tuple concurrently updated'."""
    import threading

    role = names("together")
    postgres.ensure_role(admin, role, "pw-0")
    errors, barrier = [], threading.Barrier(6)

    def ensure(i):
        barrier.wait()
        try:
            for _ in range(5):
                postgres.ensure_role(admin, role, "pw-%d" % i)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=ensure, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

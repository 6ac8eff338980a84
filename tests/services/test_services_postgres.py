"""services/postgres.py against the real PostgreSQL server of the suite (no Odoo registry needed).

Connection settings come from OPS_DB_HOST / OPS_DB_PORT / OPS_DB_USER / OPS_DB_PASSWORD
(default: the embedded cluster, 127.0.0.1:5433, ipai_ops / ipai_ops). Every database and
role is named ops_svc_test_<random>_... and removed by the fixtures.
"""

import os
import secrets
import subprocess
import time

import psycopg2
import pytest
from odoo.addons.ipai_ops_core.services import postgres
from odoo.addons.ipai_ops_core.tests.pg_helpers import PREFIX, _admin_execute, _connect, pg_fixtures
from psycopg2 import sql

HOSTILE_NAMES = [
    'a"; DROP DATABASE postgres; --', "a;drop", "$(touch x)", "Acme", "1abc", "a-b", "a b", "x" * 64, "",
    "ops_svc_test_x\n", "../../etc", "--help", None, 42,
]
admin_fixture, names_fixture = pg_fixtures()


def test_roles_cannot_connect_to_each_others_databases(admin, names):
    role_a, role_b = names("role_a"), names("role_b")
    db_a, db_b = names("db_a"), names("db_b")
    pw_a, pw_b = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    assert postgres.ensure_role(admin, role_a, pw_a) is True
    assert postgres.ensure_role(admin, role_b, pw_b) is True
    postgres.create_database(admin, db_a, role_a)
    postgres.create_database(admin, db_b, role_b)

    for role, password, own, other in ((role_a, pw_a, db_a, db_b), (role_b, pw_b, db_b, db_a)):
        conn = _connect(role, password, own)
        try:
            with conn.cursor() as cr:
                cr.execute("SELECT current_user, current_database(), (SELECT rolsuper OR rolcreatedb OR rolcreaterole "
                           "FROM pg_roles WHERE rolname = current_user)")
                assert cr.fetchone() == (role, own, False)
                cr.execute("CREATE TABLE t (x int)")  # the owner can work in its database
            conn.commit()
        finally:
            conn.close()
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            _connect(role, password, other).close()
        # And a wrong password is refused, of course.
        with pytest.raises(psycopg2.OperationalError):
            _connect(role, password + "x", own).close()

    # The admin user keeps CONNECT on both, and PUBLIC has none.
    for db, owner in ((db_a, role_a), (db_b, role_b)):
        _connect(admin["user"], admin["password"], db).close()
        [(acl, dbowner)] = _admin_execute(
            "SELECT datacl::text[], pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (db,))
        assert dbowner == owner
        assert not [entry for entry in acl if entry.startswith("=")], acl


def test_ensure_role_updates_password_and_makes_admin_a_member(admin, names):
    role = names("role")
    assert postgres.ensure_role(admin, role, "first-password") is True
    assert postgres.role_exists(admin, role)
    [(is_member, login, superuser, createdb, createrole)] = _admin_execute(
        "SELECT pg_has_role(current_user, %s, 'MEMBER'), rolcanlogin, rolsuper, rolcreatedb, rolcreaterole "
        "FROM pg_roles WHERE rolname = %s", (role, role))
    assert (is_member, login, superuser, createdb, createrole) == (True, True, False, False, False)

    _admin_execute(sql.SQL("ALTER ROLE {} NOLOGIN CREATEDB").format(sql.Identifier(role)))
    assert postgres.ensure_role(admin, role, "second-password") is False
    [(login, createdb)] = _admin_execute("SELECT rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname = %s", (role,))
    assert (login, createdb) == (True, False)
    _connect(role, "second-password", "postgres").close()
    with pytest.raises(psycopg2.OperationalError):
        _connect(role, "first-password", "postgres").close()


def test_drop_role_only_without_databases(admin, names):
    role, db = names("role"), names("db")
    postgres.ensure_role(admin, role, "pw")
    postgres.create_database(admin, db, role)
    with pytest.raises(postgres.PostgresError, match="still owns database.*%s" % db):
        postgres.drop_role(admin, role)
    assert postgres.role_exists(admin, role)
    assert postgres.drop_database(admin, db) is True
    assert postgres.drop_role(admin, role) is True
    assert not postgres.role_exists(admin, role)
    assert postgres.drop_role(admin, role) is False


def test_database_exists_list_and_size(admin, names):
    role = names("role")
    postgres.ensure_role(admin, role, "pw")
    dbs = [names("list_%d" % i) for i in range(3)]
    for db in dbs:
        assert not postgres.database_exists(admin, db)
        postgres.create_database(admin, db, role)
        assert postgres.database_exists(admin, db)
    prefix = dbs[0][: -len("list_0")]
    assert postgres.list_databases(admin, prefix + "list_") == sorted(dbs)
    # "_" is not a wildcard: "..._list" with another character in place of "_" does not match.
    assert postgres.list_databases(admin, prefix + "listx") == []
    assert "template1" not in postgres.list_databases(admin, "")
    assert "postgres" not in postgres.list_databases(admin, "post")
    assert postgres.database_size(admin, dbs[0]) > 1_000_000
    with pytest.raises(postgres.PostgresError, match="does not exist"):
        postgres.database_size(admin, names("missing"))
    with pytest.raises(postgres.PostgresError, match="already exists"):
        postgres.create_database(admin, dbs[0], role)
    with pytest.raises(postgres.PostgresError, match="does not exist"):
        postgres.create_database(admin, names("x"), names("no_such_role"))
    assert postgres.drop_database(admin, names("never_created")) is False


def test_database_comment(admin, names):
    role, db = names("role"), names("db")
    postgres.ensure_role(admin, role, "pw")
    postgres.create_database(admin, db, role)
    assert postgres.database_comment(admin, db) is None
    text = '{"sha": "abc", "note": "it\'s $(x); DROP DATABASE postgres"}'
    postgres.set_database_comment(admin, db, text)
    assert postgres.database_comment(admin, db) == text
    postgres.set_database_comment(admin, db, None)
    assert postgres.database_comment(admin, db) is None
    assert postgres.database_comment(admin, names("missing")) is None


def test_fresh_database_is_utf8_with_c_collation(admin, names):
    role, db = names("role"), names("db")
    postgres.ensure_role(admin, role, "pw")
    postgres.create_database(admin, db, role)
    [(encoding, collate)] = _admin_execute(
        "SELECT pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = %s", (db,))
    assert (encoding, collate) == ("UTF8", "C")


def test_template_copy(admin, names):
    role = names("role")
    postgres.ensure_role(admin, role, "pw")
    template, copy, copy2 = names("tpl"), names("copy"), names("copy2")
    postgres.create_database(admin, template, role)
    conn = _connect(role, "pw", template)
    with conn.cursor() as cr:
        cr.execute("CREATE TABLE partner (name text); INSERT INTO partner VALUES ('Azure Interior')")
    conn.commit()

    # Someone is connected to the template: a clear error, and their session is left alone.
    with pytest.raises(postgres.PostgresError, match="being accessed by 1 other connection"):
        postgres.create_database(admin, copy, role, template=template)
    assert not postgres.database_exists(admin, copy)
    with conn.cursor() as cr:
        cr.execute("SELECT 1")
    conn.commit()

    # Asked to, the connections are terminated and the copy is made.
    postgres.create_database(admin, copy, role, template=template, terminate_template_connections=True)
    with pytest.raises(psycopg2.Error):
        with conn.cursor() as cr:
            cr.execute("SELECT 1")
    conn.close()
    copied = _connect(role, "pw", copy)
    try:
        with copied.cursor() as cr:
            cr.execute("SELECT name FROM partner")
            assert cr.fetchall() == [("Azure Interior",)]
    finally:
        copied.close()
    # The copy is locked down like a fresh database.
    [(acl,)] = _admin_execute("SELECT datacl::text[] FROM pg_database WHERE datname = %s", (copy,))
    assert not [entry for entry in acl if entry.startswith("=")], acl

    # Nobody connected: no termination needed.
    postgres.create_database(admin, copy2, role, template=template)
    assert postgres.database_exists(admin, copy2)
    with pytest.raises(postgres.PostgresError, match="does not exist"):
        postgres.create_database(admin, names("copy3"), role, template=names("no_such_template"))


def test_drop_with_force_while_connected(admin, names):
    role, db = names("role"), names("db")
    postgres.ensure_role(admin, role, "pw")
    postgres.create_database(admin, db, role)
    conn = _connect(role, "pw", db)
    try:
        with conn.cursor() as cr:
            cr.execute("BEGIN; CREATE TABLE t (x int)")  # an open transaction too
        assert postgres.drop_database(admin, db) is True
        assert not postgres.database_exists(admin, db)
        with pytest.raises(psycopg2.Error):
            with conn.cursor() as cr:
                cr.execute("SELECT 1")
    finally:
        conn.close()


@pytest.mark.skipif(not os.environ.get("OPS_EMBEDDED_PG") or os.geteuid() != 0,
                    reason="needs the embedded cluster's superuser (a session the admin may not terminate)")
def test_drop_waits_out_a_session_it_may_not_terminate(admin, names):
    """DROP ... WITH (FORCE) refuses when a superuser process (an autovacuum
    worker on a freshly restored database, here a superuser session) is
    connected; the drop then terminates what it may and waits the rest out."""
    role, db = names("role"), names("db")
    postgres.ensure_role(admin, role, "pw")
    postgres.create_database(admin, db, role)
    sleeper = subprocess.Popen(["runuser", "-u", "postgres", "--", "psql", "-h", os.environ["OPS_PGRUN"], "-p",
                                str(admin["port"]), "-U", "postgres", "-d", db, "-qc", "SELECT pg_sleep(1.5)"],
                               cwd="/")
    try:
        deadline = time.monotonic() + 10
        while not _admin_execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s", (db,)):
            assert time.monotonic() < deadline, "the superuser session never connected"
            time.sleep(0.05)
        assert postgres.drop_database(admin, db) is True
        assert not postgres.database_exists(admin, db)
    finally:
        sleeper.wait(timeout=30)


def _server_state():
    """What a hostile name could have changed on the real server: its
    databases, roles and their attributes."""
    return (_admin_execute("SELECT datname, datdba FROM pg_database ORDER BY 1"),
            _admin_execute("SELECT rolname, rolsuper, rolcanlogin, rolcreatedb FROM pg_roles ORDER BY 1"))


@pytest.mark.alone  # the whole server's databases and roles, before and after: no other stream may make any
def test_hostile_names_are_refused_before_any_sql(admin, names):
    """Against the real server: every hostile name is a ValueError, and the
    server's databases and roles are exactly as they were."""
    ok = names("ok")
    before = _server_state()
    calls = [
        lambda n: postgres.ensure_role(admin, n, "pw"),
        lambda n: postgres.create_database(admin, n, ok),
        lambda n: postgres.create_database(admin, ok, n),
        lambda n: postgres.create_database(admin, ok, ok, template=n if n is not None else "A"),
        lambda n: postgres.drop_database(admin, n),
        lambda n: postgres.drop_database(admin, ok, owner=n if n is not None else "A"),
        lambda n: postgres.database_exists(admin, n),
        lambda n: postgres.database_size(admin, n),
        lambda n: postgres.drop_role(admin, n),
        lambda n: postgres.role_exists(admin, n),
        lambda n: postgres.database_comment(admin, n),
        lambda n: postgres.set_database_comment(admin, n, "x"),
        lambda n: postgres.reassign_objects(admin, ok, n, ok),
        lambda n: postgres.reassign_objects(admin, n, ok, ok + "x"),
        lambda n: postgres.adopt_database(admin, n, ok),
    ]
    for name in HOSTILE_NAMES:
        for call in calls:
            with pytest.raises(ValueError):
                call(name)
    assert _server_state() == before, "a hostile name changed something on the server"
    for role in ("pg_signal_backend", "pg_x", "current_user", "session_user", "none"):
        for call in (postgres.ensure_role, postgres.drop_role):
            with pytest.raises(ValueError):
                call(admin, role, "pw") if call is postgres.ensure_role else call(admin, role)
        with pytest.raises(ValueError):
            postgres.create_database(admin, ok, role)
    for prefix in ("a%", "a'", "A", "a b", None, "x" * 64, "a\n"):
        with pytest.raises(ValueError):
            postgres.list_databases(admin, prefix)
    # Reserved names, the admin's own role and its maintenance database are refused as well.
    for call in (
        lambda: postgres.drop_database(admin, "postgres"),
        lambda: postgres.drop_database(admin, "template1"),
        lambda: postgres.create_database(admin, "template0", ok),
        lambda: postgres.ensure_role(admin, "postgres", "pw"),
        lambda: postgres.ensure_role(admin, "public", "pw"),
        lambda: postgres.ensure_role(admin, admin["user"], "pw"),
        lambda: postgres.drop_role(admin, admin["user"]),
        lambda: postgres.ensure_role(admin, ok, ""),
        lambda: postgres.ensure_role(admin, ok, None),
        lambda: postgres.create_database(admin, ok, ok, template=ok),
        lambda: postgres.drop_database(dict(admin, dbname=ok), ok),
        lambda: postgres.database_exists(dict(admin, options="-c x=y"), ok),
        lambda: postgres.database_exists({"host": "127.0.0.1"}, ok),
    ):
        with pytest.raises(ValueError):
            call()


def test_unreachable_server_is_a_clear_error(admin):
    with pytest.raises(postgres.PostgresError, match="Cannot connect to PostgreSQL"):
        postgres.database_exists(dict(admin, password="wrong-password"), PREFIX + "x")

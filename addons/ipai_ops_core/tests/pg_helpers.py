"""The real PostgreSQL server of the suite, as its admin, for the service
tests (no Odoo registry needed). Connection settings from OPS_DB_HOST /
OPS_DB_PORT / OPS_DB_USER / OPS_DB_PASSWORD (default: the embedded cluster).
Every database and role a test makes is named ops_svc_test_<random>_...
and removed by the ``names`` fixture."""

import os
import secrets
import time

import psycopg2
import pytest
from psycopg2 import sql

PREFIX = "ops_svc_test_"


def _admin():
    return {
        "host": os.environ.get("OPS_DB_HOST", "127.0.0.1"),
        "port": int(os.environ.get("OPS_DB_PORT", "5433")),
        "user": os.environ.get("OPS_DB_USER", "ipai_ops"),
        "password": os.environ.get("OPS_DB_PASSWORD", "ipai_ops"),
    }


def _connect(user, password, dbname):
    admin = _admin()
    return psycopg2.connect(host=admin["host"], port=admin["port"], user=user, password=password, dbname=dbname,
                            connect_timeout=10)


def _admin_execute(query, args=None):
    admin = _admin()
    for attempt in range(5):  # the suite's server is shared: ride out a brief "too many clients"
        try:
            conn = psycopg2.connect(dbname="postgres", connect_timeout=10, **admin)
            break
        except psycopg2.OperationalError:
            if attempt == 4:
                raise
            time.sleep(1 + attempt)
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(query, args)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()


def admin_fixture():
    params = _admin()
    try:
        psycopg2.connect(dbname="postgres", connect_timeout=10, **params).close()
    except psycopg2.OperationalError as exc:
        pytest.fail("PostgreSQL of the suite is not reachable at %(host)s:%(port)s: " % params + str(exc))
    return params


def names_fixture(admin):
    """A unique name factory; drops every database, then every role, made with it."""
    run = secrets.token_hex(3)
    made = []

    def make(suffix):
        name = "%s%s_%s" % (PREFIX, run, suffix)
        made.append(name)
        return name

    yield make
    problems = []
    for kind, query in (
        ("database", "DROP DATABASE IF EXISTS {} WITH (FORCE)"),
        ("role", "DROP ROLE IF EXISTS {}"),
    ):
        for name in made:
            try:
                _admin_execute(sql.SQL(query).format(sql.Identifier(name)))
            except psycopg2.Error as exc:
                problems.append("%s %s: %s" % (kind, name, exc))
    leftovers = _admin_execute(
        "SELECT datname FROM pg_database WHERE starts_with(datname, %s) UNION ALL "
        "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
        (PREFIX + run, PREFIX + run),
    )
    assert not problems and leftovers == [], (problems, leftovers)


# In a test module: ``admin, names = pg_fixtures()`` (pytest-odoo does not
# load conftest.py files inside an addon).
def pg_fixtures():
    return pytest.fixture(name="admin")(admin_fixture), pytest.fixture(name="names")(names_fixture)

"""Marks and their checks (services/pitr_drill.py) on a real PostgreSQL: a
mark taken while a writer inserts has bounds around its moment; a copy is
checked against them, and a count out of bounds or a missing table is named."""

import os
import secrets
import threading

import psycopg2
import pytest
from odoo.addons.ipai_ops_backup.services import pg_cluster, pitr, pitr_drill
from odoo.addons.ipai_ops_core.services import postgres


def _conn():
    return {"host": os.environ["OPS_DB_HOST"], "port": int(os.environ["OPS_DB_PORT"]),
            "user": os.environ["OPS_DB_USER"], "password": os.environ["OPS_DB_PASSWORD"]}


def _sql(dbname, query, args=()):
    return pg_cluster.fetch(_conn(), query, args, dbname=dbname)


@pytest.fixture
def database():
    name = "ops_test_mark_%s" % secrets.token_hex(4)
    _sql("postgres", "CREATE DATABASE %s" % name)
    try:
        _sql(name, "CREATE TABLE res_users (id serial PRIMARY KEY, login text)")
        _sql(name, "INSERT INTO res_users (login) SELECT 'u' || n FROM generate_series(1, 4) n")
        _sql(name, "CREATE TABLE busy (id serial PRIMARY KEY)")
        _sql(name, "CREATE TABLE quiet (id int)")
        # big enough that counting it (between the two counts of busy) takes a while
        _sql(name, "INSERT INTO quiet SELECT generate_series(1, 200000)")
        _sql(name, "ANALYZE")
        yield name
    finally:
        postgres.drop_database(_conn(), name)  # (waits out an autovacuum worker FORCE may not end)


def test_a_mark_has_bounds_around_its_moment_and_a_copy_is_checked_against_them(database):
    stop = threading.Event()

    def write():
        db = psycopg2.connect(dbname=database, **_conn())
        db.autocommit = True
        with db.cursor() as cr:
            while not stop.is_set():
                cr.execute("INSERT INTO busy DEFAULT VALUES")
        db.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        stop.wait(0.5)
        target, counts = pitr_drill.mark(_conn(), database)
    finally:
        stop.set()
        writer.join(10)
    assert pitr.parse_target(target).tzinfo is not None and "." in target, target
    assert counts["res_users"] == [4, 4] and counts["quiet"] == [200000, 200000], counts
    low, high = counts["busy"]
    assert 0 < low < high, "the writer committed between the two counts: %s" % counts
    # The database as it is now has more rows in busy than at the mark: out of bounds, named.
    problems = pitr_drill.check(_conn(), database, counts)
    assert len(problems) == 1 and problems[0].startswith("busy has "), problems
    assert "%d to %d at that time" % (low, high) in problems[0], problems
    _sql(database, "DELETE FROM busy WHERE id > %s", [low])
    assert pitr_drill.check(_conn(), database, counts) == []
    _sql(database, "DROP TABLE quiet")
    assert pitr_drill.check(_conn(), database, counts) == ["table quiet is missing"]

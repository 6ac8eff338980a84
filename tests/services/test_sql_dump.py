"""services/sql_dump.py against the real PostgreSQL server and a real pg_dump:
a dump loads without psql, and nothing but SQL and COPY data ever runs."""

import os
import re
import secrets
import subprocess

import psycopg2
import pytest
from odoo.addons.ipai_ops_backup.services import sql_dump
from odoo.addons.ipai_ops_core.services import postgres

TRICKY = [
    "semi; colon", "back\\slash \\! not a command", "quote ' inside", "dollar $$ body $x$", "E'\\n' literal",
    "line\nbreak", "tab\tand \\. alone", "\\.", "-- not a comment", "/* nor this */",
]


def _admin():
    get = os.environ.get
    return {"host": get("OPS_DB_HOST", "127.0.0.1"), "port": int(get("OPS_DB_PORT", "5433")),
            "user": get("OPS_DB_USER", "ipai_ops"), "password": get("OPS_DB_PASSWORD", "ipai_ops")}


def _execute(dbname, statements):
    conn = psycopg2.connect(dbname=dbname, connect_timeout=10, **_admin())
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            for statement, *args in statements:
                cr.execute(statement, *args)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()


@pytest.fixture
def databases():
    made = []

    def make():
        name = "ops_sqldump_test_%s" % secrets.token_hex(4)
        _execute("postgres", [("CREATE DATABASE %s" % name,)])
        made.append(name)
        return name

    yield make
    for name in made:
        postgres.drop_database(_admin(), name)  # (waits out an autovacuum worker FORCE may not end)


def test_a_real_pg_dump_loads_without_psql(databases, tmp_path):
    source, target = databases(), databases()
    _execute(source, [
        ("CREATE TABLE note (id serial PRIMARY KEY, body text, data jsonb)",),
        ("CREATE FUNCTION shout(t text) RETURNS text LANGUAGE plpgsql AS $body$ BEGIN RETURN upper(t) || ';'; END "
         "$body$",),
        ("CREATE VIEW loud AS SELECT id, shout(body) AS body FROM note",),
        ("COMMENT ON TABLE note IS 'it''s; tricky \\! here'",),
        *[("INSERT INTO note (body, data) VALUES (%s, %s)", [text, '{"k": "%d"}' % i])
          for i, text in enumerate(TRICKY)],
    ])
    dump = tmp_path / "dump.sql"
    env = dict(os.environ, PGPASSWORD=_admin()["password"])
    subprocess.run(["pg_dump", "-h", _admin()["host"], "-p", str(_admin()["port"]), "-U", _admin()["user"],
                    "--no-owner", "-f", str(dump), source], check=True, env=env)
    assert b"\\restrict " in dump.read_bytes(), "recent pg_dump versions fence the dump for psql"
    assert sql_dump.check(str(dump)) > 5
    sql_dump.load(_admin(), target, str(dump))
    query = ("SELECT body, data->>'k' FROM note ORDER BY id",)
    assert _execute(target, [query]) == _execute(source, [query])
    assert [row[0] for row in _execute(target, [query])] == TRICKY
    assert _execute(target, [("SELECT body FROM loud WHERE id = 1",)]) == [("SEMI; COLON;",)]
    assert _execute(target, [("SELECT nextval('note_id_seq')",)]) == [(len(TRICKY) + 1,)]


@pytest.mark.parametrize("body, reason", [
    ("\\! touch {marker}\n", 'meta-command "\\! touch'),
    ("SELECT 1; \\! touch {marker}\n", 'meta-command "\\! touch'),
    ("\\connect postgres\nCREATE TABLE elsewhere (a int);\n", 'meta-command "\\connect'),
    ("\\copy t from program 'touch {marker}'\n", 'meta-command "\\copy'),
    ("COPY t FROM PROGRAM 'touch {marker}';\n", "only COPY ... FROM stdin"),
    ("COPY t TO '{marker}';\n", "only COPY ... FROM stdin"),
    ("COPY t FROM '/etc/passwd';\n", "only COPY ... FROM stdin"),
    ("DO $$BEGIN EXECUTE 'COPY t FROM PROGRAM ''touch {marker}'''; END$$;\n", "COPY ... PROGRAM is refused"),
    ("SELECT\n\\restrict abc\n1;\n", 'meta-command "\\restrict'),
    ("SELECT 'unterminated;\n", "unfinished statement"),
    ("COPY t (a) FROM stdin;\nx\n", "ends inside COPY data"),
])
def test_anything_but_sql_is_refused_before_anything_runs(databases, tmp_path, body, reason):
    target = databases()
    marker = tmp_path / "pwned"
    dump = tmp_path / "dump.sql"
    dump.write_text("\\restrict k3y\nCREATE TABLE t (a text);\nINSERT INTO t VALUES ('first');\n"
                    + body.format(marker=marker) + "CREATE TABLE after_it (a int);\n")
    with pytest.raises(sql_dump.DumpRefused, match=re.escape(reason)):
        sql_dump.load(_admin(), target, str(dump))
    assert _execute(target, [("SELECT count(*) FROM pg_class WHERE relname IN ('t', 'after_it', 'elsewhere')",)]) \
        == [(0,)], "nothing of the dump ran"
    assert not marker.exists()


def test_a_failing_statement_rolls_everything_back(databases, tmp_path):
    target = databases()
    dump = tmp_path / "dump.sql"
    dump.write_text("CREATE TABLE t (a int);\nCOPY t (a) FROM stdin;\n1\n2\n\\.\nSELECT no_such_function();\n")
    with pytest.raises(sql_dump.DumpRefused, match="line 6: function no_such_function"):
        sql_dump.load(_admin(), target, str(dump))
    assert _execute(target, [("SELECT count(*) FROM pg_class WHERE relname = 't'",)]) == [(0,)]

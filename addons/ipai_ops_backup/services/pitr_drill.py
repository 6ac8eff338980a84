"""What a point-in-time restore drill checks against: marks.

A drill restores production to a point of the window and checks the copy
against what production held at that point. Nothing in an archive says how
many rows a table had at 14:37:12, so the platform writes it down as it
goes: a mark is a moment (the server's clock, to the microsecond) and the
row counts of production's tables around it: counted once just before and
once just after, in transactions of their own. A transaction that commits
between the two counts may or may not be in a restore to that moment, so a
count must lie between them (equal on a quiet table); a restore that is
right always passes, one that is not shows up as a count out of bounds or
a table missing. The hourly cron makes marks; the drill picks one at random
in the restorable window (models/ops_pitr_mark.py).
"""

import psycopg2
from psycopg2 import sql

# Odoo's users and partners, then the biggest tables (PostgreSQL's estimate): exact counts, cheap enough hourly.
ALWAYS = ("res_users", "res_partner")
BIGGEST = 6


def _connect(conn, dbname):
    db = psycopg2.connect(host=conn["host"], port=conn["port"], user=conn["user"], password=conn["password"],
                          dbname=dbname, connect_timeout=10, application_name="ipai_ops pitr mark")
    db.autocommit = True
    return db


def _tables(cr):
    cr.execute("""
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT')
         ORDER BY c.relname = ANY(%s) DESC, c.reltuples DESC, c.relname LIMIT %s
    """, (list(ALWAYS), len(ALWAYS) + BIGGEST))
    return [row[0] for row in cr.fetchall()]


def _counts(cr, tables):
    counts = {}
    for table in tables:
        cr.execute(sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table)))
        counts[table] = cr.fetchone()[0]
    return counts


def mark(conn, dbname):
    """(the moment as text, {table: [low, high]}) for ``dbname`` now, read
    as ``conn`` (the environment's own role: it owns the tables)."""
    db = _connect(conn, dbname)
    try:
        with db.cursor() as cr:
            tables = _tables(cr)
            before = _counts(cr, tables)
            cr.execute("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            moment = cr.fetchone()[0] + "+00:00"
            after = _counts(cr, tables)
    finally:
        db.close()
    return moment, {table: sorted((before[table], after[table])) for table in tables}


def check(conn, dbname, expected):
    """What does not match ``expected`` ({table: [low, high]}) in ``dbname``: a list of sentences."""
    db = _connect(conn, dbname)
    problems = []
    try:
        with db.cursor() as cr:
            cr.execute("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = 'public' AND c.relkind = 'r' AND relname = ANY(%s)", (list(expected),))
            present = {row[0] for row in cr.fetchall()}
            for table, (low, high) in sorted(expected.items()):
                if table not in present:
                    problems.append("table %s is missing" % table)
                    continue
                count = _counts(cr, [table])[table]
                if not low <= count <= high:
                    problems.append("%s has %d rows, %s at that time" % (
                        table, count, low if low == high else "%d to %d" % (low, high)))
    finally:
        db.close()
    return problems


def login_check(conn, dbname):
    """Whether Odoo's users could log in: an active administrator with a
    password hash, and the database's registry marker (base installed).
    The drill then logs that administrator in with Odoo itself (ODOO_LOGIN)."""
    db = _connect(conn, dbname)
    try:
        with db.cursor() as cr:
            cr.execute("SELECT state FROM ir_module_module WHERE name = 'base'")
            base = cr.fetchone()
            cr.execute("""
                SELECT count(*) FROM res_users u JOIN ir_model_data d ON d.model = 'res.users' AND d.res_id = u.id
                 WHERE d.module = 'base' AND d.name = 'user_admin' AND u.active AND coalesce(u.password, '') <> ''
            """)
            admins = cr.fetchone()[0]
    finally:
        db.close()
    problems = []
    if not base or base[0] != "installed":
        problems.append("Odoo's base module is not installed in the copy")
    if not admins:
        problems.append("the copy has no active administrator with a password")
    return problems


# Run in production's own image (python3 -c ODOO_LOGIN KEYFILE DBNAME LOGIN): Odoo loads the copy's
# registry (every installed module) and logs its administrator in through the login XML-RPC
# uses (common.authenticate: the same signature in 17.0, 18.0 and 19.0), with the one-use
# password the drill gave the copy. The last line says who logged in, or why not.
ODOO_LOGIN = (
    "import sys\n"
    "sys.path.insert(0, '/opt/odoo')\n"
    "import odoo\n"
    "from odoo.service import common\n"
    "from odoo.tools import config\n"
    "password, dbname, login = open(sys.argv[1]).read().strip(), sys.argv[2], sys.argv[3]\n"
    "config.parse_config(['-c', '/etc/odoo/odoo.conf', '--log-level', 'warn'])\n"
    "try:\n"
    "    uid = common.exp_authenticate(dbname, login, password, {})\n"
    "except Exception as exc:\n"
    "    print('ipai-ops drill login: Odoo could not open the copy: %s: %s' % (type(exc).__name__, exc))\n"
    "    sys.exit(2)\n"
    "print('ipai-ops drill login: %s' % ('%s logged in as user %d on Odoo %s' % (login, uid, odoo.release.version)\n"
    "                                    if uid else '%s could not log in' % login))\n"
    "sys.exit(0 if uid else 1)\n"
)
LOGIN_PREFIX = "ipai-ops drill login: "


def admin_login(conn, dbname):
    """The login of the copy's administrator (base.user_admin), or None."""
    db = _connect(conn, dbname)
    try:
        with db.cursor() as cr:
            cr.execute("""
                SELECT u.login FROM res_users u JOIN ir_model_data d ON d.model = 'res.users' AND d.res_id = u.id
                 WHERE d.module = 'base' AND d.name = 'user_admin'
            """)
            row = cr.fetchone()
    finally:
        db.close()
    return row[0] if row else None

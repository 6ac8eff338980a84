"""What an Odoo database holds, read directly (the upgrade advisor compares
a database before and after a migration): its modules' states and versions,
and the row counts of its main tables. Fixed queries; the database name is
validated and is a connection parameter, never SQL."""

from psycopg2 import sql

from ._base import _cursor, _execute, _validate_database

# (label, table, model, condition): partners, sale orders, pickings, invoices, users
MAIN_TABLES = (
    ("partners", "res_partner", "res.partner", "TRUE"),
    ("sale_orders", "sale_order", "sale.order", "TRUE"),
    ("pickings", "stock_picking", "stock.picking", "TRUE"),
    ("invoices", "account_move", "account.move", "t.move_type IN ('out_invoice', 'in_invoice', 'out_refund', "
                                                 "'in_refund')"),
    ("users", "res_users", "res.users", "TRUE"),
)


def module_states(admin, dbname):
    """{module: (state, latest_version)} of the modules that are or are about to be installed."""
    _validate_database(dbname)
    with _cursor(dict(admin, dbname=dbname)) as cr:
        _execute(cr, "SELECT name, state, latest_version FROM ir_module_module "
                     "WHERE state IN ('installed', 'to upgrade', 'to install', 'to remove')",
                 what="Cannot read the modules of %s" % dbname)
        return {name: (state, version) for name, state, version in cr.fetchall()}


def row_counts(admin, dbname):
    """{label: {"total": rows, "own": rows no module's data file made}} of
    the main tables there are (see MAIN_TABLES). A migration reloads the
    modules' own records (demo data among them) and may drop some; the
    records people made ("own") must all be there afterwards."""
    _validate_database(dbname)
    counts = {}
    with _cursor(dict(admin, dbname=dbname)) as cr:
        _execute(cr, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
                 what="Cannot list the tables of %s" % dbname)
        tables = {row[0] for row in cr.fetchall()}
        for label, table, model, condition in MAIN_TABLES:
            if table in tables:
                # the conditions are MAIN_TABLES' own SQL, never input
                query = sql.SQL("SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ir_model_data d "
                                "WHERE d.model = %s AND d.res_id = t.id)) FROM {} t WHERE {}")
                _execute(cr, query.format(sql.Identifier(table), sql.SQL(condition)), (model,),
                         what="Cannot count %s" % table)
                total, own = cr.fetchone()
                counts[label] = {"total": total, "own": own}
    return counts

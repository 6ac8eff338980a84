"""18.0.1.1.0: one PostgreSQL role per environment instead of one per project.

Environments built before this version keep running on the project's shared
role (their containers hold its password) until their next build or deploy,
which copies the database into one owned by the environment's own role and
drops the old one. Until then their ``db_role`` names the shared role, so
the executors know who owns what they replace. The shared role's password
is no longer kept by the control plane; the garbage collector drops the
role once no database of it is left.
"""

from odoo import SUPERUSER_ID, api
from odoo.addons.ipai_ops_core.services import naming


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    plane = naming.namespace_for(cr.dbname)
    legacy = env["ops.environment"].search([("database_name", "!=", False), ("db_role", "=", False)])
    for record in legacy:
        role = naming.legacy_role_name(plane, record.project_id.slug)
        record.db_role = role
        record._message_log(body=(
            "Security update: this environment still connects with %s, a database role it shares with the other "
            "environments of %s. Its next build or deploy moves it to a role of its own, gives its administrator "
            "a random password if it still had Odoo's default, and passes credentials in a configuration file "
            "instead of the command line." % (role, record.project_id.slug)))
    cr.execute("ALTER TABLE ops_project DROP COLUMN IF EXISTS db_password")

"""The customer code of the upgrade tests: a 17.0 addon with what an Odoo
17 to 18 upgrade trips on, and an 18.0 addon with what 18 to 19 does."""

import os
import shutil

from e2e import git

# The OCA's date_range, one release per series, as the wheels PyPI has (scripts/setup.sh downloads them into
# $OPS_ODOO_SOURCES/wheels; containers here cannot reach PyPI): a repository ships them, as an air-gapped one does.
OCA_MODULE = "date_range"
OCA_RELEASES = {"17.0": "17.0.1.2.1.5", "18.0": "18.0.5.0.2.2", "19.0": "19.0.1.0.1"}
# the 18.0 wheel migrates the 17.0 module's data with its own script
OCA_SCRIPT_18 = "post-migration"


TEST_HELPER = "2.1.3"  # odoo-test-helper, which date_range's tests import (OCA's test-requirements.txt)


def vendor_oca_wheel(work, series):
    """Put the date_range wheel of ``series`` (and odoo-test-helper, for its
    tests) in ``work``/wheels, only them, and pin them in requirements.txt,
    pip told to use no index."""
    wheels = os.path.join(os.path.dirname(os.environ.get("ODOO_SRC", "/opt/ipai-ops/odoo-18.0")), "wheels")
    names = ["odoo_addon_date_range-%s-py3-none-any.whl" % OCA_RELEASES[series],
             "odoo_test_helper-%s-py3-none-any.whl" % TEST_HELPER]
    shutil.rmtree(work / "wheels", ignore_errors=True)
    (work / "wheels").mkdir()
    for name in names:
        if not os.path.exists(os.path.join(wheels, name)):
            raise AssertionError("the wheel %s is missing from %s (scripts/setup.sh downloads it)" % (name, wheels))
        shutil.copy(os.path.join(wheels, name), work / "wheels")
    (work / "requirements.txt").write_text("--no-index\n--find-links /mnt/extra-addons/wheels\n"
                                           "odoo-addon-date-range==%s\nodoo-test-helper==%s\n" % (
                                               OCA_RELEASES[series], TEST_HELPER))

ADDON_17 = "acme_upgrade"
FILES_17 = {
    "__init__.py": "from . import models\n",
    "__manifest__.py": '{"name": "Acme upgrade", "version": "17.0.1.0.0", "license": "LGPL-3",\n'
                       ' "depends": ["sale_management", "stock"],\n'
                       ' "data": ["security/ir.model.access.csv", "views/acme_views.xml", "data/acme_cron.xml"]}\n',
    "models/__init__.py": "from . import acme_order\n",
    "models/acme_order.py": '''from odoo import api, fields, models
from odoo.tools import ustr


class AcmeOrder(models.Model):
    _name = "acme.order"
    _description = "Acme order"

    name = fields.Char(required=True)
    amount = fields.Float(group_operator="sum")
    sale_id = fields.Many2one("sale.order")

    @api.model
    def _name_search(self, name, args=None, operator="ilike", limit=100, name_get_uid=None):
        args = list(args or []) + [("name", operator, name)]
        return self._search(args, limit=limit, access_rights_uid=name_get_uid)

    def label(self):
        self.check_access_rights("read")
        return ustr(self.name)

    @api.model
    def _cron_tick(self):
        return True
''',
    "security/ir.model.access.csv": "id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink\n"
                                    "access_acme_order,acme.order,model_acme_order,base.group_user,1,1,1,1\n",
    "views/acme_views.xml": '''<odoo>
    <record id="acme_order_list" model="ir.ui.view">
        <field name="model">acme.order</field>
        <field name="arch" type="xml">
            <tree>
                <field name="name"/>
                <field name="amount"/>
            </tree>
        </field>
    </record>
    <record id="acme_order_action" model="ir.actions.act_window">
        <field name="name">Acme orders</field>
        <field name="res_model">acme.order</field>
        <field name="view_mode">tree,form</field>
    </record>
</odoo>
''',
    "data/acme_cron.xml": '''<odoo>
    <record id="acme_cron" model="ir.cron">
        <field name="name">Acme tick</field>
        <field name="model_id" ref="model_acme_order"/>
        <field name="state">code</field>
        <field name="code">model._cron_tick()</field>
        <field name="interval_number">1</field>
        <field name="interval_type">days</field>
        <field name="numbercall">-1</field>
        <field name="doall" eval="False"/>
    </record>
</odoo>
''',
}
# A second addon with dependencies that are not the project's nor Odoo's:
# one merged into account by 18.0, one OCA module released for 18.0, one not.
ADDON_DEPS = "acme_extras"
FILES_DEPS = {
    "__init__.py": "",
    "__manifest__.py": '{"name": "Acme extras", "version": "17.0.1.0.0", "license": "LGPL-3",\n'
                       ' "depends": ["acme_upgrade", "account_payment_term", "web_responsive", "acme_unported_oca"]}\n',
}

ADDON_18 = "acme_next"
FILES_18 = {
    "__init__.py": "from . import models, controllers\n",
    "__manifest__.py": '{"name": "Acme next", "version": "18.0.1.0.0", "license": "LGPL-3", "depends": ["web"],'
                       ' "data": ["security/ir.model.access.csv"]}\n',
    "models/__init__.py": "from . import acme_thing\n",
    "models/acme_thing.py": '''from odoo import fields, models


class AcmeThing(models.Model):
    _name = "acme.thing"
    _description = "Acme thing"

    name = fields.Char(required=True)
    code = fields.Char()

    _sql_constraints = [("code_uniq", "unique(code)", "The code must be unique.")]

    def touch(self):
        self._cr.execute("SELECT 1")
        return self._context.get("lang")
''',
    "controllers/__init__.py": "from . import main\n",
    "controllers/main.py": '''from odoo import http


class AcmeController(http.Controller):
    @http.route("/acme/ping", type="json", auth="user")
    def ping(self):
        return {"pong": True}
''',
    "security/ir.model.access.csv": "id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink\n"
                                    "access_acme_thing,acme.thing,model_acme_thing,base.group_user,1,1,1,1\n",
}


def write_addon(root, name, files):
    for rel, text in files.items():
        path = root / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_upgrade_repo(root):
    """A bare repository: main holds the 17.0 addons, branch odoo-18 the 18.0 one. Returns (url, bare path)."""
    work = root / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    write_addon(work, ADDON_17, FILES_17)
    write_addon(work, ADDON_DEPS, FILES_DEPS)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "acme 17.0", cwd=work)
    git("checkout", "-q", "--orphan", "odoo-18", cwd=work)
    git("rm", "-rq", "--cached", ".", cwd=work)
    for name in (ADDON_17, ADDON_DEPS):
        import shutil

        shutil.rmtree(work / name)
    write_addon(work, ADDON_18, FILES_18)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "acme 18.0", cwd=work)
    git("checkout", "-q", "main", cwd=work)
    bare = root / "upgrade.git"
    import subprocess

    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return "file://%s" % bare, bare


def make_production_repo(root):
    """A bare repository whose main holds the 17.0 addon (what a 17.0
    production runs), which depends on the OCA's date_range shipped as its
    17.0 wheel. Returns (url, bare path)."""
    import subprocess

    work = root / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    # production's addon also depends on an OCA module, installed from its wheel
    write_addon(work, ADDON_17, dict(FILES_17, **{"__manifest__.py": FILES_17["__manifest__.py"].replace(
        '"stock"]', '"stock", "%s"]' % OCA_MODULE)}))
    vendor_oca_wheel(work, "17.0")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "acme 17.0", cwd=work)
    bare = root / "production.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return "file://%s" % bare, bare

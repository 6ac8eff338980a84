"""18.0.1.3.0: the upgrade advisories are the platform's knowledge, updated
with the module (their data file is no longer noupdate), and carry the
pattern the upgrade scan matches."""


def migrate(cr, version):
    if not version:
        return
    cr.execute("UPDATE ir_model_data SET noupdate = false WHERE module = 'ipai_ops_core' "
               "AND model = 'ops.upgrade.advisory'")

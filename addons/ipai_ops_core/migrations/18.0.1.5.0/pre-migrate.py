"""18.0.1.5.0: the backup addon owns its names. The run kinds backup,
restore and drill and the staging source "latest verified backup" were
declared by core; the backup addon now adds them itself (selection_add).
Their selection values change owner here, so that updating core alone
never sees them as removed (which would apply the ondelete policy to every
backup run)."""

MOVED = ("selection__ops_run__kind__backup", "selection__ops_run__kind__restore",
         "selection__ops_run__kind__drill", "selection__ops_project__staging_source__backup")


def migrate(cr, version):
    if not version:
        return
    cr.execute("SELECT 1 FROM ir_module_module WHERE name = 'ipai_ops_backup' "
               "AND state IN ('installed', 'to upgrade')")
    if not cr.fetchone():
        return  # without the backup addon no run of these kinds could be queued: the values just go
    cr.execute("""
        UPDATE ir_model_data SET module = 'ipai_ops_backup'
         WHERE module = 'ipai_ops_core' AND model = 'ir.model.fields.selection' AND name IN %s
           AND NOT EXISTS (SELECT 1 FROM ir_model_data theirs
                            WHERE theirs.module = 'ipai_ops_backup' AND theirs.name = ir_model_data.name)
    """, [MOVED])

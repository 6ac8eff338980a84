"""18.0.1.4.0: a Docker host's capacity 0 means "sized from its CPUs and
memory" (models/ops_host_capacity.py). The local host still at the old
default of 2 becomes automatic; a capacity someone chose stays."""


def migrate(cr, version):
    if not version:
        return
    cr.execute("""
        UPDATE ops_host SET capacity = 0
         WHERE capacity = 2 AND id IN (SELECT res_id FROM ir_model_data
                                       WHERE module = 'ipai_ops_core' AND name = 'ops_host_local')
    """)

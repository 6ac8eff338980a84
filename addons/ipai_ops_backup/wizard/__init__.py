from . import ops_pitr_restore

from . import ops_backup

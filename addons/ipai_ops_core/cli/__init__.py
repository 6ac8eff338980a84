from . import ops_worker

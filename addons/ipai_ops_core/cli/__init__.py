from . import ops_mailcatcher, ops_worker

from . import ops_mailcatcher, ops_proxy, ops_worker, ops_workers

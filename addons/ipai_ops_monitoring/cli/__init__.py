from . import ops_monitor

from . import ops_health_check

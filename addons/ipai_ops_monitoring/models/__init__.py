# isort: skip_file
from . import ops_health_check
from . import ops_metric_sample
from . import ops_metric_rollup
from . import ops_metric_state
from . import ops_container_event
from . import ops_environment_metrics

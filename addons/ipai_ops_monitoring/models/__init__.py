# isort: skip_file
from . import ops_metric_figures
from . import ops_metric_sample
from . import ops_metric_rollup
from . import ops_metric_state
from . import ops_container_event
from . import ops_environment_metrics
from . import ops_environment_sizing
from . import ops_alert_rule
from . import ops_alert_channel
from . import ops_incident
from . import ops_alert_delivery
from . import ops_environment_alerts
from . import ops_deploy_report
from . import ops_overview

# isort: skip_file
from . import ops_backup
from . import ops_project
from . import ops_environment
from . import ops_run
from . import ops_pitr
from . import ops_pitr_mark
from . import ir_http
from . import ir_config_parameter

# isort: skip_file
# Order matters: a model is defined before the models that inherit it.
from . import ops_tool
from . import ops_project
from . import ops_project_settings_mixin
from . import ops_project_member
from . import ops_branch_rule
from . import ops_environment
from . import ops_environment_gc
from . import ops_environment_admin_password
from . import ops_host
from . import ops_project_git
from . import ops_workflow
from . import ops_run
from . import ops_run_github
from . import ops_run_queue
from . import ops_run_worker_api
from . import ops_run_reaper
from . import ops_run_spec
from . import ops_run_execute
from . import ops_run_attempt
from . import ops_run_hooks
from . import ops_port
from . import ops_run_event
from . import ops_run_log
from . import ops_run_artifact
from . import ops_upgrade_advisory
from . import ops_mail

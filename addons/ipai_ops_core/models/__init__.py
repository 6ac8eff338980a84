from . import (
    ops_branch_rule,
    ops_environment,
    ops_environment_gc,
    ops_project,
    ops_project_member,
    ops_run,
    ops_run_artifact,
    ops_run_event,
    ops_run_log,
    ops_tool,
    ops_upgrade_advisory,
    ops_workflow,
)

# Every Odoo test module of the addon (odoo-bin --test-enable runs these;
# scripts/test.sh compares their count with what pytest collects). Tests of
# the plain services that need no Odoo are in the repository's tests/services.
from . import (
    test_access,
    test_approval_preview,
    test_claim_concurrency,
    test_env_log,
    test_env_network,
    test_faults,
    test_front_door,
    test_isolation,
    test_mail_catcher,
    test_naming,
    test_odoo_log,
    test_overview,
    test_project,
    test_queue_flow,
    test_run_logs,
    test_run_queue,
    test_runtime,
    test_secrets,
    test_shell_runs,
    test_swarm_nodes,
    test_ui_tours,
    test_upgrade_advisor,
)

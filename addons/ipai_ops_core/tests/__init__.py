from . import (
    test_access,
    test_env_network,
    test_faults,
    test_isolation,
    test_mail_catcher,
    test_naming,
    test_odoo_log,
    test_project,
    test_run_queue,
    test_runtime,
    test_secrets,
    test_upgrade_advisor,
)

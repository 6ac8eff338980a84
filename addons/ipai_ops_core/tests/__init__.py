from . import test_access, test_naming, test_project, test_run_queue

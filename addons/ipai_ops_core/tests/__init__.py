from . import test_access, test_mail_catcher, test_naming, test_project, test_run_queue

# isort: skip_file
from . import test_retention
from . import test_backup_model
from . import test_secret_param
from . import test_run_kinds
from . import test_pitr_config

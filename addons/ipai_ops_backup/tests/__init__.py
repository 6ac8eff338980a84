# isort: skip_file
from . import test_retention
from . import test_backup_model

from . import ops_environment_admin_password

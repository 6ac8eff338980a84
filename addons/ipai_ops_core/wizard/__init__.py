from . import ops_environment_admin_password, ops_host_join

from . import cli, controllers, models, services

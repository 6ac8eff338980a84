from . import backup

from . import logs, shell, webhook

from . import logs, webhook

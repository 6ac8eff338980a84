from . import database, logs, shell, webhook

"""What runs runs: the execution of a claimed run (execute.py) and the
reporter an executor talks to (reporter.py). Not models: plain code that
opens cursors of its own, used by the cron drain and `odoo-bin ops-worker`."""

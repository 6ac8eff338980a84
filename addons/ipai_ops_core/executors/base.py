"""What every executor shares: the reporter protocol and errors."""


class RunFailed(Exception):
    """The run failed for a reason the user can act on (message is shown)."""

    def __init__(self, message, exit_code=1, detail=None):
        super().__init__(message)
        self.exit_code = exit_code
        # What groups it with the same failure elsewhere (odoo_log.LogSummary.detail).
        self.detail = detail


class RunCanceled(Exception):
    """The run was canceled while it executed."""


class Reporter:
    """Interface the ORM glue implements (and tests may implement).

    Every call is committed before it returns, so progress is visible and
    survives a crash, and state is saved before each side effect.
    """

    def log(self, level, message):
        raise NotImplementedError

    def flush(self):
        raise NotImplementedError

    def check_canceled(self):
        """Raise RunCanceled when the run was canceled meanwhile."""
        raise NotImplementedError

    def set_commit(self, sha):
        raise NotImplementedError

    def artifact(self, key, location, sha256=None, content_type=None, size=0):
        raise NotImplementedError

    def update_environment(self, values):
        raise NotImplementedError

    def upgrade_result(self, report, findings):
        """An upgrade run's summary and its findings (ops.upgrade.finding values)."""
        raise NotImplementedError

    def apply_proxy(self, values=None, drain_timeout=0):
        """Record ``values`` on the environment and load the front door
        (nginx) from the environments, the previous nginx workers draining
        for up to ``drain_timeout`` seconds. Returns {"status": what nginx
        did, "seconds": until the new configuration answered (the drain
        not included)}; raises services.nginx.NginxError (and records
        nothing) when nginx refuses the configuration."""
        raise NotImplementedError

    def environment_message(self, text):
        """A line in the environment's chatter (what changed on it, and why)."""
        raise NotImplementedError

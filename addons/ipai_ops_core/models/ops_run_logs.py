"""A run's log for the backend's log viewer (static/src/env_logs, the same
component as an environment's Logs tab): the newest lines that match, or
the lines written after a cursor, for following a run as it goes."""

from datetime import datetime, timezone

from odoo import _, models
from odoo.exceptions import ValidationError

from .ops_environment_logs import MAX_GREP, MAX_LIMIT
from .ops_run_log import LEVEL_MAP, LOG_LEVELS
from .rpc_args import time_arg, valid_records

ORDER = [code for code, _label in LOG_LEVELS]  # lowest first
# the viewer's level names (an environment log's, Odoo's) for a run's
SHOWN = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR"}


class OpsRun(models.Model):
    _inherit = "ops.run"

    def logs(self, grep=None, level=None, until=None, after=None, limit=200):
        """{"lines": [{cursor, time, level, text}], "cursor"}: the newest
        ``limit`` lines (oldest first) matching ``grep`` (literal text,
        case-insensitive) at ``level`` or above, up to ``until`` (UTC); with
        ``after`` (an earlier answer's cursor) the lines written since."""
        valid_records(self, "Run").ensure_one()
        self.check_access("read")
        Log = self.env["ops.run.log"]
        domain = [("run_id", "=", self.id)]
        if grep not in (None, False, ""):
            if not isinstance(grep, str) or len(grep) > MAX_GREP or "\x00" in grep:
                raise ValidationError(_("The text filter is one line of at most %d characters.", MAX_GREP))
            literal = grep.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            domain.append(("message", "ilike", literal))
        if level not in (None, False, ""):
            code = LEVEL_MAP.get(level.lower()) if isinstance(level, str) else None
            if not code:
                raise ValidationError(_("level is one of debug, info, warning, error, not %r.", level))
            domain.append(("level", "in", ORDER[ORDER.index(code):]))
        if until not in (None, False, ""):
            moment = datetime.fromtimestamp(time_arg(self.env, "until", until), timezone.utc).replace(tzinfo=None)
            domain.append(("timestamp", "<=", moment))
        if after not in (None, False):
            if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                raise ValidationError(_("after is the cursor of an earlier answer, not %r.", after))
            domain.append(("id", ">", after))
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValidationError(_("limit is a number of lines from 1 to %(max)d, not %(limit)r.", max=MAX_LIMIT,
                                    limit=limit))
        # Read up to the newest line written now; following goes on from there (lines the filter left out
        # are not read again, and a line written meanwhile comes with the next call).
        newest = Log.search([("run_id", "=", self.id)], order="id desc", limit=1).id or 0
        domain.append(("id", "<=", newest))
        if after not in (None, False):
            lines = Log.search(domain, order="id", limit=limit)
            cursor = lines[-1:].id if len(lines) == limit else max(newest, after)
        else:
            lines = Log.search(domain, order="id desc", limit=limit)[::-1]
            cursor = newest
        return {
            "lines": [{"cursor": line.id, "time": line.timestamp and line.timestamp.isoformat(sep=" "),
                       "level": SHOWN.get(line.level, "INFO"), "text": line._format_line()} for line in lines],
            "cursor": cursor,
        }

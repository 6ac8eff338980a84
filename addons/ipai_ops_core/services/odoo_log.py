"""Reading Odoo's log: levels, test results and the run's outcome."""

import re

# 2026-11-24 00:10:34,739 1234 WARNING dbname odoo.modules.loading: message
LINE_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+) (\S+): ")
LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "error"}
# odoo.tests.result: 1 failed, 0 error(s) of 3 tests when loading database 'x'
RESULT_RE = re.compile(r"odoo\.tests\.result: (\d+) failed, (\d+) error\(s\) of (\d+) tests")
# The last line of a traceback: "psycopg2.errors.UndefinedTable: relation ..."
EXCEPTION_RE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Warning|Fault|Invalid\w*))(?::\s*(.*))?$")
# Lines Odoo logs at WARNING that say nothing about the project's code.
_NOISE = (
    "Running as user 'root'",
    "No HTTP server",
)


def level_of(line):
    """Our level for one Odoo log line; continuation lines (tracebacks) are None."""
    match = LINE_RE.match(line)
    return LEVELS[match.group(1)] if match else None


class LogSummary:
    """Accumulates a run's Odoo output: counts by level, test totals."""

    def __init__(self):
        self.warnings = 0
        self.errors = 0
        self.tests = None  # (failed, errors, total) once Odoo reported it
        self.first_error = None  # "logger: message" of the first ERROR line
        self.exception = None  # the last line of the last traceback
        self._last_level = "info"

    def feed(self, line):
        """Return the level to log ``line`` with (tracebacks keep their head's level)."""
        level = level_of(line)
        if level is None:
            level = self._last_level if self._last_level in ("error", "warn") else "info"
            match = EXCEPTION_RE.match(line.strip())
            if match and self._last_level == "error":
                self.exception = line.strip()
            return level
        self._last_level = level
        if any(noise in line for noise in _NOISE):
            return "info"
        if level == "warn":
            self.warnings += 1
        elif level == "error":
            self.errors += 1
            if self.first_error is None:
                match = LINE_RE.match(line)
                self.first_error = "%s: %s" % (match.group(3), line[match.end():].strip())
        result = RESULT_RE.search(line)
        if result:
            self.tests = tuple(int(g) for g in result.groups())
        return level

    def outcome(self, exit_code):
        """ok / warning / failed, the way Odoo.sh colours a build."""
        failed_tests = bool(self.tests and (self.tests[0] or self.tests[1]))
        if exit_code != 0 or self.errors or failed_tests:
            return "failed"
        if self.warnings:
            return "warning"
        return "ok"

    def cause(self):
        """What broke, in one line (the exception of the last traceback, else
        the first error), prefixed ": ", or "" when the log says nothing."""
        text = self.exception or self.first_error
        if not text:
            return ""
        return ": " + (text if len(text) <= 300 else text[:297] + "...")

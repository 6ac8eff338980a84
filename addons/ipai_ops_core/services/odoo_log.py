"""Reading Odoo's log: levels, test results, the run's outcome, and what
broke: the exception, the addon and file it came from, the tests that
failed with their assertion, and a fingerprint that is the same each time
the same error happens (paths, ids, numbers and addresses left out)."""

import hashlib
import re

# 2026-11-24 00:10:34,739 1234 WARNING dbname odoo.modules.loading: message
LINE_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+) (\S+): ")
LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "error"}
# odoo.tests.result: 1 failed, 0 error(s) of 3 tests when loading database 'x'
RESULT_RE = re.compile(r"odoo\.tests\.result: (\d+) failed, (\d+) error\(s\) of (\d+) tests")
# The last line of a traceback: "psycopg2.errors.UndefinedTable: relation ..."
EXCEPTION_RE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Warning|Fault|Invalid\w*|Exit|Interrupt))"
                          r"(?::\s*(.*))?$")
# A frame: File "/mnt/extra-addons/shop/tests/test_x.py", line 4, in <module>
FRAME_RE = re.compile(r'^\s*File "([^"]+)", line (\d+)(?:, in (\S+))?')
# Where the project's addons are in the runtime image (the build's COPY).
PROJECT_ADDONS = "/mnt/extra-addons/"
# A failing test, as Odoo's test result logs it: "FAIL: TestShop.test_total"
TEST_RE = re.compile(r"^(FAIL|ERROR): (\S+)")
# Lines Odoo logs at WARNING that say nothing about the project's code.
_NOISE = (
    "Running as user 'root'",
    "No HTTP server",
)
_CAUSE_MAX = 300


def level_of(line):
    """Our level for one Odoo log line; continuation lines (tracebacks) are None."""
    match = LINE_RE.match(line)
    return LEVELS[match.group(1)] if match else None


def _clean(text):
    """What stays the same between two occurrences of one error: no
    database names, ids, numbers, addresses or temporary paths."""
    text = re.sub(r"0x[0-9a-f]+", "0x_", text)
    text = re.sub(r"\b[a-z]\w*_\d+_\d+_[\w-]+", "<db>", text)  # our database names carry ids
    text = re.sub(r"/tmp/\S+", "/tmp/_", text)
    return re.sub(r"\d+", "N", text)


class Traceback:
    """One traceback: the log line it belongs to, its frames, its exception."""

    def __init__(self, logger, message):
        self.logger, self.message = logger, message
        self.frames = []  # (path, line, function)
        self.exception = None  # "Type: message" (its first line)
        self.test = None  # "FAIL: TestX.test_y" when a test's
        test = TEST_RE.match(message)
        if test:
            self.test = "%s %s" % (test.group(2), "failed" if test.group(1) == "FAIL" else "raised an error")

    def feed(self, line):
        frame = FRAME_RE.match(line)
        if frame:
            self.frames.append((frame.group(1), int(frame.group(2)), frame.group(3) or ""))
            return
        match = EXCEPTION_RE.match(line.strip())
        if match and not line.startswith(" "):
            self.exception = line.strip()

    def origin(self):
        """'addon/path/file.py:line' of the deepest frame in the project's
        addons, else of the deepest frame, or None."""
        ours = [f for f in self.frames if f[0].startswith(PROJECT_ADDONS)]
        frame = (ours or self.frames or [None])[-1]
        if not frame:
            return None
        path = frame[0][len(PROJECT_ADDONS):] if frame[0].startswith(PROJECT_ADDONS) else \
            re.sub(r"^.*?/(odoo/|site-packages/|dist-packages/)", r"\1", frame[0])
        return "%s:%d" % (path, frame[1])

    def addon(self):
        ours = [f for f in self.frames if f[0].startswith(PROJECT_ADDONS)]
        return ours[-1][0][len(PROJECT_ADDONS):].split("/", 1)[0] if ours else None

    def sentence(self):
        exception = self.exception or self.message
        origin = self.origin()
        text = "%s: %s" % (self.test, exception) if self.test else exception
        if origin:
            text += " (%s %s)" % ("at" if self.test else "raised in", origin)
        return text

    def key(self):
        """The cleaned traceback: exception type and message, the project's
        frames (file and function, no line numbers)."""
        ours = [f for f in self.frames if f[0].startswith(PROJECT_ADDONS)] or self.frames[-1:]
        frames = ["%s %s" % (re.sub(r"^.*?/(odoo/|site-packages/)", r"\1", path), function)
                  for path, _line, function in ours]
        return "\n".join([_clean(self.test or ""), _clean(self.exception or self.message), *frames])


class LogSummary:
    """Accumulates a run's Odoo output: counts by level, test totals, the
    tracebacks (what broke)."""

    def __init__(self):
        self.warnings = 0
        self.errors = 0
        self.tests = None  # (failed, errors, total) once Odoo reported it
        self.first_error = None  # "logger: message" of the first ERROR line
        self.exception = None  # the last line of the last traceback
        self.tracebacks = []  # Traceback of each ERROR / CRITICAL line that had one
        self._last_level = "info"
        self._current = None  # the Traceback being read

    def feed(self, line):
        """Return the level to log ``line`` with (tracebacks keep their head's level)."""
        level = level_of(line)
        if level is None:
            level = self._last_level if self._last_level in ("error", "warn") else "info"
            if self._current is not None:
                self._current.feed(line)
                if self._current.exception and self._current.exception == line.strip():
                    self.exception = self._current.exception
            return level
        self._last_level = level
        match = LINE_RE.match(line)
        self._current = None
        if level == "error":
            self._current = Traceback(match.group(3), line[match.end():].strip())
            self.tracebacks.append(self._current)
        if any(noise in line for noise in _NOISE):
            return "info"
        if level == "warn":
            self.warnings += 1
        elif level == "error":
            self.errors += 1
            if self.first_error is None:
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

    def _culprits(self):
        """The tracebacks that say what broke: failing tests when there are,
        else the last one with an exception."""
        tests = [tb for tb in self.tracebacks if tb.test]
        if tests:
            return tests
        with_exception = [tb for tb in self.tracebacks if tb.exception]
        return with_exception[-1:]

    def cause(self):
        """What broke, in one or two lines, prefixed ": ", or "" when the log
        says nothing: failing tests with their assertion and where; else the
        exception with the addon file it was raised in."""
        culprits = self._culprits()
        if culprits:
            text = "; ".join(tb.sentence() for tb in culprits[:3])
            if len(culprits) > 3:
                text += "; and %d more" % (len(culprits) - 3)
        else:
            text = self.exception or self.first_error
        if not text:
            return ""
        return ": " + (text if len(text) <= _CAUSE_MAX else text[:_CAUSE_MAX - 3] + "...")

    def detail(self):
        """What groups this failure with the same one elsewhere: {fingerprint,
        summary (the cause), exception type, addon} or None when no
        traceback says what broke."""
        culprits = self._culprits()
        if not culprits:
            return None
        keys = sorted({tb.key() for tb in culprits})
        exception = (culprits[0].exception or "").split(":", 1)[0] or None
        return {"fingerprint": hashlib.sha1("\n--\n".join(keys).encode()).hexdigest(),
                "summary": self.cause()[2:], "exception": exception,
                "addon": next((tb.addon() for tb in culprits if tb.addon()), None)}

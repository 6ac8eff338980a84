"""Load a plain SQL dump (Odoo database manager's ``dump.sql``) without psql.

psql obeys backslash meta-commands found in its input (``\\!`` runs a shell
command on the host, ``\\connect`` switches databases, ``\\copy ... program``
runs a program), so a dump from outside must never reach it. This module
reads the dump itself, statement by statement, and sends each statement to
PostgreSQL over an ordinary connection (the target environment's own role,
never a superuser), with ``COPY ... FROM stdin`` data streamed through the
COPY protocol.

Before anything is executed the whole dump is read once and refused, with
the line number, if it holds anything but SQL statements and COPY data:
any meta-command (except the ``\\restrict`` / ``\\unrestrict`` pair recent
pg_dump versions write around a dump, which only fence psql itself), any
COPY other than ``FROM stdin`` (``FROM PROGRAM``, ``FROM 'file'``, ``TO``).
"""

import re

import psycopg2

_RESTRICT = re.compile(rb"^\\(un)?restrict [A-Za-z0-9]+\s*$")
_COPY_STDIN = re.compile(r'^COPY\s+(?:[\w.]|"[^"]*")+(?:\s*\((?:[^;()\'"]|"[^"]*")*\))?\s+FROM\s+stdin\s*;$',
                         re.IGNORECASE)
_COPY = re.compile(r"^COPY\b", re.IGNORECASE)
_COPY_PROGRAM = re.compile(r"\bCOPY\b.*\bPROGRAM\b", re.IGNORECASE | re.DOTALL)
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
END_OF_DATA = b"\\."


class DumpRefused(Exception):
    """The dump holds something other than SQL and COPY data; nothing ran."""


class _Lexer:
    """Splits SQL text into statements, knowing quotes, dollar quotes and
    comments (a ``;`` or backslash inside them means nothing)."""

    def __init__(self):
        self.buffer = []
        self.quote = None  # "'", '"', a dollar tag, or None
        self.block_depth = 0

    def pending(self):
        return "".join(self.buffer).strip()

    def feed(self, line, lineno):
        """Feed one line of text; return the statements it completed."""
        done, i, n, start = [], 0, len(line), 0
        while i < n:
            c = line[i]
            if self.block_depth:
                if line.startswith("*/", i):
                    self.block_depth -= 1
                    i += 2
                    continue
                if line.startswith("/*", i):
                    self.block_depth += 1
                    i += 2
                    continue
                i += 1
                continue
            if self.quote in ("'", '"'):
                if c == self.quote:
                    if line.startswith(self.quote * 2, i):
                        i += 2
                        continue
                    self.quote = None
                elif c == "\\" and self.quote == "'" and self._escape_string():
                    i += 2
                    continue
                i += 1
                continue
            if self.quote:  # a dollar-quoted body
                if line.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                    continue
                i += 1
                continue
            if c in ("'", '"'):
                self.quote = c
                self._estring = c == "'" and i > 0 and line[i - 1] in "eE" and not (
                    i > 1 and (line[i - 2].isalnum() or line[i - 2] == "_"))
            elif line.startswith("--", i):
                self.buffer.append(line[start:i] + "\n")
                start = i = n
                continue
            elif line.startswith("/*", i):
                self.block_depth = 1
                i += 2
                continue
            elif c == "$":
                match = _DOLLAR.match(line, i)
                if match and not (i > 0 and (line[i - 1].isalnum() or line[i - 1] == "_")):
                    self.quote = match.group(0)
                    i = match.end()
                    continue
            elif c == "\\":
                raise DumpRefused("line %d: psql meta-command \"%s\" refused (only SQL is accepted in dump.sql)"
                                  % (lineno, line[i:i + 40].strip()))
            elif c == ";":
                self.buffer.append(line[start:i + 1])
                done.append("".join(self.buffer).strip())
                self.buffer, start = [], i + 1
            i += 1
        self.buffer.append(line[start:])
        return done

    def _escape_string(self):
        return getattr(self, "_estring", False)


def _check_statement(statement, lineno):
    """'copy' for a COPY ... FROM stdin, 'sql' for another statement; refuses COPY in any other form."""
    body = statement.lstrip()
    if _COPY.match(body):
        if _COPY_STDIN.match(body):
            return "copy"
        raise DumpRefused("line %d: only COPY ... FROM stdin is accepted, not %r" % (lineno, body[:120]))
    if _COPY_PROGRAM.search(body):
        raise DumpRefused("line %d: a statement running COPY ... PROGRAM is refused" % lineno)
    return "sql"


class _CopyData:
    """File-like view of the COPY data lines that follow a COPY statement,
    up to the ``\\.`` line (for psycopg2's copy_expert)."""

    def __init__(self, lines):
        self.lines, self.done, self.pending = lines, False, bytearray()

    def _next_line(self):
        try:
            _lineno, raw = next(self.lines)
        except StopIteration as exc:
            raise DumpRefused("the dump ends inside COPY data (no \\. line)") from exc
        if raw.rstrip(b"\r\n") == END_OF_DATA:
            self.done = True
            return None
        return raw

    def read(self, size=-1):  # pylint: disable=method-required-super  # a file object, not a model
        while not self.done and (size < 0 or len(self.pending) < size):
            raw = self._next_line()
            if raw is not None:
                self.pending += raw
        if size < 0 or size >= len(self.pending):
            data, self.pending = bytes(self.pending), bytearray()
        else:
            data = bytes(self.pending[:size])
            del self.pending[:size]
        return data

    def drain(self):
        """Skip what was not read (the check pass reads no data)."""
        self.pending = bytearray()
        while not self.done:
            self._next_line()


def _items(path):
    """Yield ('sql', text, lineno) and ('copy', text, lineno, data) from the dump at ``path``."""
    lexer = _Lexer()
    with open(path, "rb") as fh:
        lines = enumerate(fh, 1)
        for lineno, raw in lines:
            if not lexer.buffer or not lexer.pending() and not lexer.quote and not lexer.block_depth:
                if raw.startswith(b"\\") and _RESTRICT.match(raw.rstrip(b"\r\n")):
                    continue  # pg_dump's fence against psql itself; nothing for us to do
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DumpRefused("line %d is not UTF-8 text" % lineno) from exc
            for statement in lexer.feed(text, lineno):
                if _check_statement(statement, lineno) == "copy":
                    data = _CopyData(lines)
                    yield ("copy", statement, lineno, data)
                    data.drain()
                else:
                    yield ("sql", statement, lineno, None)
        if lexer.quote or lexer.block_depth or lexer.pending():
            raise DumpRefused("the dump ends inside an unfinished statement")


def check(path):
    """Read the whole dump; raise DumpRefused for anything but SQL and COPY data.
    Returns the number of statements."""
    return sum(1 for _item in _items(path))


def load(conn_params, dbname, path):
    """Check the dump, then run it into ``dbname`` in one transaction as the
    connection's role (``conn_params``: host, port, user, password).
    Nothing is committed unless every statement succeeds."""
    check(path)
    conn = psycopg2.connect(host=conn_params["host"], port=conn_params["port"], user=conn_params["user"],
                            password=conn_params.get("password") or None, dbname=dbname, connect_timeout=10,
                            application_name="ipai_ops_import")
    try:
        with conn, conn.cursor() as cr:
            for kind, statement, lineno, data in _items(path):
                try:
                    if kind == "copy":
                        cr.copy_expert(statement, data, size=1 << 16)
                    else:
                        cr.execute(statement)
                except psycopg2.Error as exc:
                    message = (getattr(exc.diag, "message_primary", None) or str(exc)).strip()
                    raise DumpRefused("line %d: %s (%s)" % (lineno, message, statement[:120])) from exc
    finally:
        conn.close()

"""One segment of an environment's log, indexed: a SQLite file next to the
log file it indexes (services/env_log.py keeps the segments).

Each physical line is a row (time, level, text); the lines of a traceback
take the time and level of the record they belong to, so "errors only"
keeps them. A trigram full-text index (SQLite FTS5) answers a text filter
without reading the log: the newest matches come first, in milliseconds,
however many lines the segment holds. The segment is read incrementally:
the byte offset of the last complete line indexed is kept in the index, so
no line is indexed twice and a restart of the reader loses nothing.
"""

import calendar
import os
import re
import sqlite3
import time

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
MAX_TEXT = 16384  # characters of one line kept in the index
BATCH = 20000  # lines per transaction
CHUNK = 4 * 1024 * 1024  # bytes read at once

# Odoo's format: "2026-11-26 08:20:49,123 42 INFO dbname odoo.module: message"
RECORD = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d{3} \d+ ([A-Z]+) ")

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS line(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, level INTEGER NOT NULL,
                                text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS line_ts ON line(ts);
CREATE INDEX IF NOT EXISTS line_level ON line(level, id);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, tokenize='trigram', content='line', content_rowid='id',
                                                  detail='none');
"""


class SegmentIndex:
    def __init__(self, path):
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.executescript(SCHEMA)
        self._meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        self._stamp = (None, None)

    def close(self):
        self.db.close()

    def meta(self, key, default=None):
        value = self._meta.get(key)
        return default if value is None else value

    def set_meta(self, **values):
        self.db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items()))
        self._meta.update(values)

    # -- writing -------------------------------------------------------------

    def _epoch(self, stamp):
        if self._stamp[0] != stamp:  # many lines share a second: parse each second once
            self._stamp = (stamp, calendar.timegm(time.strptime(stamp.decode(), "%Y-%m-%d %H:%M:%S")))
        return self._stamp[1]

    def ingest(self, fd, size, on_line=None):
        """Index the complete lines of the open file ``fd`` between the
        offset already indexed and ``size``; returns the number of lines.
        ``on_line(ts, level, raw_bytes)`` sees each new line once (the
        request analytics of the monitoring module read the same lines)."""
        offset = self.meta("offset", 0)
        if size <= offset:
            return 0
        next_id = (self.db.execute("SELECT max(id) FROM line").fetchone()[0] or 0) + 1
        ts, level = self.meta("last_ts", 0), self.meta("last_level", LEVELS["INFO"])
        first_ts = self.meta("min_ts")
        count, rows, rest = 0, [], b""
        while offset + len(rest) < size:
            chunk = os.pread(fd, min(CHUNK, size - offset - len(rest)), offset + len(rest))
            if not chunk:
                break
            data = rest + chunk
            end = data.rfind(b"\n")
            if end < 0:
                rest = data
                continue
            rest = data[end + 1:]
            for raw in data[:end].split(b"\n"):
                match = RECORD.match(raw)
                if match:
                    ts = self._epoch(match.group(1))
                    level = LEVELS.get(match.group(2).decode(), level)
                    if first_ts is None:
                        first_ts = ts
                if on_line:
                    on_line(ts, level, raw)
                rows.append((next_id, ts, level, raw[:MAX_TEXT].decode("utf-8", "replace").rstrip("\r")))
                next_id += 1
            offset += end + 1
            if len(rows) >= BATCH:
                count += self._write(rows, offset, ts, level, first_ts)
                rows = []
        if rows:
            count += self._write(rows, offset, ts, level, first_ts)
        return count

    def _write(self, rows, offset, ts, level, first_ts):
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO line(id, ts, level, text) VALUES (?, ?, ?, ?)", rows)
        self.db.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)", [(row[0], row[3]) for row in rows])
        self.set_meta(offset=offset, last_ts=ts, last_level=level, min_ts=first_ts, max_ts=ts)
        self.db.execute("COMMIT")
        return len(rows)

    # -- reading -------------------------------------------------------------

    def id_range(self, since=None, until=None):
        """The first and last line ids within [since, until] (epoch seconds)."""
        low = high = None
        if since is not None:
            low = self.db.execute("SELECT min(id) FROM line WHERE ts >= ?", (since,)).fetchone()[0]
            if low is None:
                return None
        if until is not None:
            high = self.db.execute("SELECT max(id) FROM line WHERE ts <= ?", (until,)).fetchone()[0]
            if high is None:
                return None
        return (low or 1, high or (1 << 62))

    def select(self, limit, low=1, high=1 << 62, grep=None, min_level=None, ascending=False):
        """Up to ``limit`` lines (id, ts, level, text) with ids in [low,
        high], the newest first (the oldest first when ``ascending``),
        containing ``grep`` (case-insensitive, literal) and at least
        ``min_level``."""
        order = "ASC" if ascending else "DESC"
        if grep:
            # The literal match, case-insensitive; first narrowed by the trigram
            # index when the text has three characters in a row that LIKE takes
            # literally (SQLite gives FTS5 a LIKE without ESCAPE only: % and _
            # there match more, never less, and the literal test decides).
            args = [grep, low, high]
            level_sql = ""
            if min_level:
                level_sql, args = " AND line.level >= ?", args + [min_level]
            if max(map(len, re.split(r"[%_]", grep))) >= 3:
                sql = ("SELECT line.id, line.ts, line.level, line.text FROM fts JOIN line ON line.id = fts.rowid "
                       "WHERE fts.text LIKE ? AND instr(lower(line.text), lower(?)) > 0 "
                       "AND fts.rowid BETWEEN ? AND ?%s ORDER BY fts.rowid %s LIMIT ?" % (level_sql, order))
                args = ["%" + grep + "%"] + args
            else:
                sql = ("SELECT id, ts, level, text FROM line WHERE instr(lower(text), lower(?)) > 0 "
                       "AND id BETWEEN ? AND ?%s ORDER BY id %s LIMIT ?" % (level_sql, order))
            return self.db.execute(sql, args + [limit]).fetchall()
        if min_level:
            # one walk of the (level, id) index per level, merged: fast however rare the level
            rows = []
            for level in sorted(value for value in LEVEL_NAMES if value >= min_level):
                rows += self.db.execute(
                    "SELECT id, ts, level, text FROM line WHERE level = ? AND id BETWEEN ? AND ? "
                    "ORDER BY id %s LIMIT ?" % order, (level, low, high, limit)).fetchall()
            return sorted(rows, reverse=not ascending)[:limit]
        return self.db.execute("SELECT id, ts, level, text FROM line WHERE id BETWEEN ? AND ? ORDER BY id %s LIMIT ?"
                               % order, (low, high, limit)).fetchall()


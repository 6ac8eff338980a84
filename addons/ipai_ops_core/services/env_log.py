"""An environment's Odoo log, kept by the platform across container
switches and restarts: one log per environment, rotated by size, the last
``keep`` segments kept, each indexed (services/log_index.py).

Every container of the environment writes Odoo's log to ``odoo.log`` in
the environment's data directory (``--logfile``; Odoo reopens the file
when it has been moved away). ``sync()`` indexes what was written since the
last call, moves the file into the platform's own directory once it is
larger than ``max_bytes`` (a segment) and drops the oldest segments.
``read()`` answers the tail, a text filter, a level filter and a time
window from the indexes.

An environment on a node with a disk of its own writes its log there:
``pull`` (executors/node_files.log_puller) takes what it wrote since the
last piece, and ``sync()`` appends it here first, under the same lock.

The data directory belongs to the environment's code: the live file is
opened relative to its directory without following links and must be a
regular file, so a customer's addon that replaces it with a link to a file
of the host shows nothing of that file. Segments and indexes live in a
directory the containers never see.
"""

import calendar
import contextlib
import fcntl
import os
import re
import stat
import time

from .log_index import LEVEL_NAMES, SegmentIndex

LIVE = "odoo.log"
PULLED = ".pulled"  # the last piece of a node's log appended here
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_KEEP = 16
SEGMENT = re.compile(r"^(\d{8})\.idx$")
CURSOR = re.compile(r"^(\d{1,8}):(\d{1,18})$")


class EnvLog:
    def __init__(self, live_dir, store_dir, max_bytes=DEFAULT_MAX_BYTES, keep=DEFAULT_KEEP, pull=None):
        self.live_dir, self.store_dir, self.pull = live_dir, store_dir, pull
        self.max_bytes, self.keep = max(1024, int(max_bytes)), max(1, int(keep))

    # -- files ---------------------------------------------------------------

    def _path(self, seq, ext):
        return os.path.join(self.store_dir, "%08d.%s" % (seq, ext))

    def segments(self):
        """Sequence numbers of the indexed segments, oldest first."""
        try:
            names = os.listdir(self.store_dir)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for m in map(SEGMENT.match, names) if m)

    def _open_live(self):
        """(fd of the live file, its directory's fd, stat) or (None, None, None)."""
        try:
            dir_fd = os.open(self.live_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError, OSError):
            return None, None, None
        try:
            fd = os.open(LIVE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError:
            os.close(dir_fd)
            return None, None, None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            os.close(dir_fd)
            return None, None, None
        return fd, dir_fd, info

    def _open_segment_file(self, seq):
        try:
            fd = os.open(self._path(seq, "log"), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd

    @contextlib.contextmanager
    def _lock(self, blocking=True):
        os.makedirs(self.store_dir, mode=0o750, exist_ok=True)
        fd = os.open(os.path.join(self.store_dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    # -- keeping -------------------------------------------------------------

    def sync(self, on_line=None, blocking=True, pull_every=0):
        """Index what was written since the last call, rotate and prune.
        ``pull_every``: seconds that must have passed since the last take
        from a node before another (a reader following the log polls every
        second; each take starts a helper on the node). Returns the number
        of lines indexed (None when another process held the lock and
        ``blocking`` is false)."""
        with self._lock(blocking) as locked:
            if not locked:
                return None
            if self.pull:
                self._pull_in(pull_every)
            return self._sync(on_line)

    def _pull_in(self, pull_every=0):
        """What ``pull(last piece)`` brings appended to the live file (made
        with its directory's owner, Odoo's, who writes it when the
        environment comes back to the platform's disk); the piece counted
        once it is written. The state file is written at every take: its
        time is the last take's."""
        state = os.path.join(self.store_dir, PULLED)
        try:
            with open(state, encoding="ascii") as handle:
                last = int(handle.read().strip() or 0)
            taken_at = os.stat(state).st_mtime
        except (FileNotFoundError, ValueError):
            last, taken_at = 0, None
        if pull_every and taken_at is not None and 0 <= time.time() - taken_at < pull_every:
            return
        data = self.pull(last)
        if data is None:
            data, piece = b"", last  # nothing to take (or the node does not answer): the same piece next time
        else:
            piece = last + 1
        if data:
            if not os.path.isdir(self.live_dir):
                os.makedirs(self.live_dir)
                parent = os.stat(os.path.dirname(self.live_dir))
                with contextlib.suppress(PermissionError):
                    os.chown(self.live_dir, parent.st_uid, parent.st_gid)
            dir_fd = os.open(self.live_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                owner = os.fstat(dir_fd)
                fd = os.open(LIVE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o640, dir_fd=dir_fd)
                try:
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, owner.st_uid, owner.st_gid)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                finally:
                    os.close(fd)
            finally:
                os.close(dir_fd)
        with open(state + ".tmp", "w", encoding="ascii") as handle:
            handle.write(str(piece))
        os.replace(state + ".tmp", state)

    def _sync(self, on_line):
        count = 0
        segments = self.segments()
        # rotated segments still written to by a process that had the file open when it moved
        for seq in segments:
            fd = self._open_segment_file(seq)
            if fd is not None:
                try:
                    count += self._ingest(seq, fd, on_line)
                finally:
                    os.close(fd)
        fd, dir_fd, info = self._open_live()
        if fd is None:
            return count
        try:
            seq = segments[-1] if segments else 1
            if segments and (os.path.exists(self._path(seq, "log"))
                             or self._index_meta(seq, "inode") not in (None, info.st_ino)):
                seq += 1  # the last segment was rotated (or its file replaced): this file starts a new one
            count += self._ingest(seq, fd, on_line, inode=info.st_ino)
            if info.st_size >= self.max_bytes:
                os.rename(LIVE, self._path(seq, "log"), src_dir_fd=dir_fd)
                count += self._ingest(seq, fd, on_line)  # what was written between the read and the move
        finally:
            os.close(fd)
            os.close(dir_fd)
        self._prune()
        return count

    def _index_meta(self, seq, key):
        index = SegmentIndex(self._path(seq, "idx"))
        try:
            return index.meta(key)
        finally:
            index.close()

    def _ingest(self, seq, fd, on_line, inode=None):
        index = SegmentIndex(self._path(seq, "idx"))
        try:
            if inode is not None and index.meta("inode") is None:
                index.set_meta(inode=inode)
            return index.ingest(fd, os.fstat(fd).st_size, on_line)
        finally:
            index.close()

    def _prune(self):
        rotated = [seq for seq in self.segments() if os.path.exists(self._path(seq, "log"))]
        for seq in rotated[:-self.keep] if len(rotated) > self.keep else []:
            for ext in ("log", "idx", "idx-wal", "idx-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path(seq, ext))

    # -- reading -------------------------------------------------------------

    def read(self, limit=200, since=None, until=None, grep=None, min_level=None, after=None):  # pylint: disable=method-required-super
        """Lines as dicts (cursor, time, level, text), oldest first: the
        newest ``limit`` matching lines within [since, until] (epoch
        seconds), or with ``after`` (a cursor returned earlier) the lines
        that came after it, for following the log. ``cursor`` in the answer
        is where to continue from."""
        result = []
        segments = self.segments()
        if after:
            match = CURSOR.match(after)
            if not match:
                raise ValueError("Not a log cursor: %r" % after[:40])
            after_seq, after_id = int(match.group(1)), int(match.group(2))
            for seq in (s for s in segments if s >= after_seq):
                low = after_id + 1 if seq == after_seq else 1
                result += self._select(seq, limit - len(result), since, until, grep, min_level, low, True)
                if len(result) >= limit:
                    break
        else:
            for seq in reversed(segments):
                rows = self._select(seq, limit - len(result), since, until, grep, min_level, 1, False)
                result = list(reversed(rows)) + result
                if len(result) >= limit:
                    break
        lines = [{"cursor": "%d:%d" % (seq, row[0]), "time": _iso(row[1]), "level": LEVEL_NAMES.get(row[2], "INFO"),
                  "text": row[3]} for seq, row in result]
        cursor = lines[-1]["cursor"] if lines else (after or self._end_cursor(segments))
        return {"lines": lines, "cursor": cursor}

    def _select(self, seq, limit, since, until, grep, min_level, low, ascending):
        index = SegmentIndex(self._path(seq, "idx"))
        try:
            if since is not None and (index.meta("max_ts") or 0) < since:
                return []
            if until is not None and (index.meta("min_ts") is None or index.meta("min_ts") > until):
                return []
            bounds = index.id_range(since, until)
            if bounds is None:
                return []
            rows = index.select(limit, max(low, bounds[0]), bounds[1], grep, min_level, ascending)
            return [(seq, row) for row in rows]
        finally:
            index.close()

    def _end_cursor(self, segments):
        if not segments:
            return "0:0"
        index = SegmentIndex(self._path(segments[-1], "idx"))
        try:
            last = index.db.execute("SELECT max(id) FROM line").fetchone()[0] or 0
        finally:
            index.close()
        return "%d:%d" % (segments[-1], last)

    def files(self):
        """The kept log files, oldest first, as open file descriptors (for
        a download); the caller closes them."""
        fds = [fd for fd in (self._open_segment_file(seq) for seq in self.segments()) if fd is not None]
        fd, dir_fd, _info = self._open_live()
        if fd is not None:
            os.close(dir_fd)
            fds.append(fd)
        return fds

    def tail(self, lines=40, max_bytes=65536):
        """The last lines of the live file, unindexed (a container that did
        not start: what it said)."""
        fd, dir_fd, info = self._open_live()
        if fd is None:
            return []
        try:
            start = max(0, info.st_size - max_bytes)
            data = os.pread(fd, info.st_size - start, start)
        finally:
            os.close(fd)
            os.close(dir_fd)
        return data.decode("utf-8", "replace").splitlines()[-lines:]


def _iso(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def parse_since(value, now=None):
    """Epoch seconds from "90s", "10m", "2h", "7d" (ago) or an ISO date or
    time ("2026-11-26", "2026-11-26 08:30[:00]", "T" accepted), in UTC;
    ValueError with what is accepted otherwise."""
    now = time.time() if now is None else now
    text = str(value or "").strip()
    match = re.fullmatch(r"(\d{1,6})\s*([smhdw])", text)
    if match:
        return int(now - int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)])
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(text.replace("T", " "), fmt))
        except ValueError:
            continue
    raise ValueError("%r is not a time: use a duration (90s, 10m, 2h, 7d) or a UTC date and time "
                     "(2026-11-26 08:30)" % text[:40])

"""One holder at a time across the control plane's processes (workers, crons, the web server):
an exclusive ``flock`` on a lock file, released when the block ends."""

import contextlib
import fcntl


@contextlib.contextmanager
def locked(path):
    """Hold the lock of ``path`` (created when missing, never truncated) for the block."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

"""Waking workers when a run enters the queue: PostgreSQL LISTEN/NOTIFY.

The control plane sends ``NOTIFY ipai_ops_queue`` in the transaction that
queues a run (delivered when it commits); a worker process LISTENs on a
connection of its own and wakes its idle slots at once instead of at their
next poll (the poll stays, for a notification lost with a dropped
connection). Plain values in: libpq connection parameters.
"""

import logging
import select
import threading

import psycopg2
from psycopg2 import sql

_logger = logging.getLogger(__name__)
CHANNEL = "ipai_ops_queue"


class QueueListener:
    """``wake`` (called with no argument) whenever a run is queued, until
    ``stop`` is set. Reconnects after a lost connection."""

    def __init__(self, connect_params, wake, stop, channel=CHANNEL):
        self.params, self.wake, self.stop, self.channel = dict(connect_params), wake, stop, channel
        self.thread = threading.Thread(target=self._run, name="ops-queue-listener", daemon=True)
        self.listening = threading.Event()

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.is_set():
            conn = None
            try:
                conn = psycopg2.connect(**self.params)
                conn.autocommit = True
                with conn.cursor() as cr:
                    cr.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                self.listening.set()
                while not self.stop.is_set():
                    if select.select([conn], [], [], 1.0)[0]:
                        conn.poll()
                        if conn.notifies:
                            conn.notifies.clear()
                            self.wake()
            except psycopg2.Error as exc:
                self.listening.clear()
                _logger.warning("ops queue listener: %s; listening again in 5 s (slots poll meanwhile)", exc)
                self.stop.wait(5)
            finally:
                if conn is not None:
                    conn.close()

"""A relay that holds requests while an environment has nothing to answer
with, then lets them through to whoever answers next.

The front door (nginx) is pointed at the relay (a port on the loopback)
instead of a container. The relay accepts every connection at once and
keeps it waiting, without reading it, until ``release(host, port)``: from
then on each connection, held or new, is piped to that address. A visitor
sees a slow answer instead of an error or the maintenance page: what a
switch that must stop the old container for a few seconds (a database moved
onto another server, executors/move_database.py) needs to fail no request.
nginx waits for the answer up to its ``proxy_read_timeout``.

``close()`` stops accepting; connections already piped finish by themselves
(their threads are daemons: nothing here outlives the worker's process).
"""

import contextlib
import socket
import threading

CHUNK = 65536


class HoldRelay:
    def __init__(self, host="127.0.0.1"):
        self._listener = socket.create_server((host, 0), backlog=512)
        self.host, self.port = host, self._listener.getsockname()[1]
        self._ready = threading.Condition()
        self._target, self._closed = None, False
        self.held = 0  # connections that waited for a target
        self.piped = 0  # connections piped to a target
        self.refused = 0  # connections the target did not take
        threading.Thread(target=self._accept, name="hold-relay-%d" % self.port, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def release(self, host, port):
        """Pipe every connection, held and new, to ``host``:``port``."""
        with self._ready:
            self._target = (str(host), int(port))
            self._ready.notify_all()

    def close(self):
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        # shutdown first: on Linux it wakes the thread blocked in accept(), which close() alone does not
        for stop in (lambda: self._listener.shutdown(socket.SHUT_RDWR), self._listener.close):
            with contextlib.suppress(OSError):
                stop()

    def _accept(self):
        while True:
            try:
                conn, _peer = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with self._ready:
            if self._target is None and not self._closed:
                self.held += 1
            while self._target is None and not self._closed:
                self._ready.wait()
            target = self._target
        if target is None:  # closed without a target: nginx answers 502 for this one
            conn.close()
            return
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            self.refused += 1
            conn.close()
            return
        upstream.settimeout(None)
        self.piped += 1
        back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
        back.start()
        _pipe(conn, upstream)
        back.join()
        for sock in (conn, upstream):
            sock.close()


def _pipe(source, sink):
    """Copy ``source`` to ``sink`` until ``source`` ends, then end ``sink``'s writing side."""
    with contextlib.suppress(OSError):  # a side that went away ends the copy like an end of stream
        while data := source.recv(CHUNK):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)

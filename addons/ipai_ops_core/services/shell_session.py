"""One shell session: a ``docker exec`` in an environment's container,
relayed to a websocket client (``ops env shell``, the web terminal), with a
PTY when the client has a terminal, resize, end of input, an idle timeout
and a transcript. Plain values: the socket, the runtime (services/runtime.py),
the container.

The client speaks (websocket frames, services/websocket.py):
  binary frame      what it typed (its stdin)
  text {"resize": [rows, cols]}, text {"eof": true}
and hears:
  binary frame      one byte channel (1 stdout, 2 stderr) then output
  text {"exit": code, "reason": "..."} and a close frame, at the end.

Nothing of a session outlives it: when it ends for any reason but the
command's own exit (the client went away, idle, the relay failed), every
process of its session inside the container is killed, so no orphaned
``docker exec`` keeps running.
"""

import contextlib
import json
import re
import selectors
import socket
import struct
import time

from . import websocket
from .odoo_config import CONTAINER_PATH

# Run first in the container: say the session id (the exec'd process leads
# its own session, with or without a TTY), then become the command.
WRAPPER = ("import os, sys\n"
           "sys.stdout.write('\\x1b]ipai-ops-sid;%d\\x07' % os.getsid(0))\n"
           "sys.stdout.flush()\n"
           "os.execvp(sys.argv[1], sys.argv[1:])\n")
SID_MARK = re.compile(rb"\x1b\]ipai-ops-sid;(\d{1,10})\x07")
KILL_SESSION = ("import os, signal, sys\n"
                "sid = int(sys.argv[1])\n"
                "for pid in os.listdir('/proc'):\n"
                "    if pid.isdigit() and int(pid) != os.getpid():\n"
                "        try:\n"
                "            if os.getsid(int(pid)) == sid:\n"
                "                os.kill(int(pid), signal.SIGKILL)\n"
                "        except OSError:\n"
                "            pass\n")
HEARTBEAT_EVERY = 30  # seconds between calls of the heartbeat callback


def command(odoo, dbname, tty):
    """What the session runs: bash (without the image's rc files, which
    would set their own prompt: ours comes from ``environment``), or Odoo's
    own shell on the environment's database with its configuration (its own
    database role)."""
    if odoo:
        return ["odoo", "shell", "-c", CONTAINER_PATH, "-d", dbname, "--no-http", "--log-level", "warn"]
    return ["/bin/bash", "--norc", "-i"] if tty else ["/bin/bash", "--norc"]


# Odoo.sh's colours: production red, staging yellow, development green.
STAGE_COLOURS = {"production": "1;31", "staging": "1;33", "development": "1;32"}
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9._/@+-]")


def environment(tty, label=None, stage=None):
    """The session's variables: the terminal, and a prompt that says which
    environment and stage this is (``production acme-erp/main ~$`` in red),
    so that a production shell never looks like a development one."""
    if not tty:
        return None
    variables = {"TERM": "xterm-256color"}
    if label and stage:
        colour = STAGE_COLOURS.get(stage, "1")
        label = _LABEL_CHARS.sub("_", label)[:80]
        variables["PS1"] = "\\[\\e[%sm\\]%s\\[\\e[0m\\] %s \\w \\$ " % (colour, stage, label)
    return variables


class Session:
    def __init__(self, ws, engine, container_id, argv, tty=True, size=(24, 80), idle_timeout=900,
                 max_transcript=5 * 1024 * 1024, heartbeat=None, variables=None):
        self.ws, self.engine, self.container_id, self.argv = ws, engine, container_id, argv
        self.variables = variables if variables is not None else environment(tty)
        self.tty, self.size, self.idle_timeout = tty, size, idle_timeout
        self.max_transcript, self.heartbeat = max_transcript, heartbeat
        self.transcript, self.transcript_size, self.truncated = [], 0, False
        self.sid, self.head, self.demux_buffer = None, b"", b""
        self.exec_id = self.raw = None
        self.endpoint = websocket.Endpoint()

    # -- transcript ----------------------------------------------------------

    def record(self, data):
        if self.transcript_size >= self.max_transcript:
            self.truncated = True
            return
        data = data[:self.max_transcript - self.transcript_size]
        self.transcript.append(data)
        self.transcript_size += len(data)

    # -- output --------------------------------------------------------------

    def send(self, opcode, payload):
        data = self.endpoint.frame(opcode, payload)
        if data:
            self.ws.sendall(data)

    def output(self, channel, data):
        if self.sid is None and channel == 1:
            self.head += data
            match = SID_MARK.search(self.head)
            if not match:
                if len(self.head) < 256:
                    return
                data, self.head = self.head, b""  # no mark: pass everything on as it is
            else:
                self.sid = int(match.group(1))
                data, self.head = self.head[:match.start()] + self.head[match.end():], b""
        if data:
            self.record(data)
            self.send(websocket.BINARY, bytes([channel]) + data)

    def from_docker(self, data):
        if self.tty:
            self.output(1, data)
            return
        self.demux_buffer += data
        while len(self.demux_buffer) >= 8:
            channel, size = self.demux_buffer[0], struct.unpack("!I", self.demux_buffer[4:8])[0]
            if len(self.demux_buffer) < 8 + size:
                return
            chunk, self.demux_buffer = self.demux_buffer[8:8 + size], self.demux_buffer[8 + size:]
            self.output(2 if channel == 2 else 1, chunk)

    # -- input ---------------------------------------------------------------

    def from_client(self, opcode, payload):
        """Returns a reason to stop, or None."""
        if opcode == websocket.BINARY:
            if not self.tty:
                self.record(payload)  # a terminal echoes what is typed; without one, keep the input itself
            self.raw.sendall(payload)
        elif opcode == websocket.TEXT:
            try:
                message = json.loads(payload.decode("utf-8"))
            except ValueError:
                return None
            if not isinstance(message, dict):
                return None
            if self.tty and isinstance(message.get("resize"), list) and len(message["resize"]) == 2:
                rows, cols = message["resize"]
                if all(isinstance(v, int) and 1 <= v <= 1000 for v in (rows, cols)):
                    self.engine.exec_resize(self.exec_id, rows, cols)
            if message.get("eof"):
                if self.tty:
                    self.raw.sendall(b"\x04")
                else:
                    self.raw.shutdown(socket.SHUT_WR)  # Docker closes the command's stdin
        elif opcode == websocket.PING:
            self.send(websocket.PONG, payload)
        elif opcode == websocket.CLOSE:
            return "the client closed the session"
        return None

    # -- the session ---------------------------------------------------------

    def run(self):
        """Relay until the command exits, the client goes or it stays idle.
        Returns {"exit_code", "reason", "transcript" (bytes), "truncated"}."""
        try:
            self.exec_id = self.engine.exec_create(
                self.container_id, ["python3", "-c", WRAPPER, *self.argv], stdin=True, tty=self.tty,
                environment=self.variables)
            self.raw = self.engine.exec_attach(self.exec_id, tty=self.tty)
            if self.tty:
                self.engine.exec_resize(self.exec_id, *self.size)
        except Exception as exc:  # noqa: BLE001 - whatever keeps the command from starting, the client is told
            reason = "the shell could not start: %s" % exc
            with contextlib.suppress(OSError):  # the client is gone: nothing to tell it
                self.send(websocket.TEXT, json.dumps({"exit": None, "reason": reason}).encode())
                self.send(websocket.CLOSE, struct.pack("!H", 1011))
            return {"exit_code": -1, "reason": reason, "transcript": b"", "truncated": False}
        reason, exited = None, False
        selector = selectors.DefaultSelector()
        selector.register(self.ws, selectors.EVENT_READ, "client")
        selector.register(self.raw, selectors.EVENT_READ, "docker")
        last_input = last_beat = time.monotonic()
        try:
            while reason is None:
                for key, _mask in selector.select(timeout=1):
                    if key.data == "docker":
                        data = self.raw.recv(65536)
                        if not data:
                            reason, exited = self.why_output_ended(), True
                            break
                        self.from_docker(data)
                    else:
                        data = self.ws.recv(65536)
                        if not data:
                            reason = "the client went away"
                            break
                        last_input = time.monotonic()
                        for opcode, payload in self.endpoint.feed(data):
                            reason = self.from_client(opcode, payload)
                            if reason:
                                break
                now = time.monotonic()
                if reason is None and now - last_input > self.idle_timeout:
                    reason = "idle for %d s" % self.idle_timeout
                if self.heartbeat and now - last_beat > HEARTBEAT_EVERY:
                    last_beat = now
                    self.heartbeat()
        except (OSError, websocket.ProtocolError) as exc:
            reason = "the connection failed: %s" % exc
        finally:
            selector.close()
            if self.head:  # output too short to carry the session mark: pass it on
                data, self.head = self.head, b""
                self.record(data)
                with contextlib.suppress(OSError):  # the client is gone: nothing to tell it
                    self.send(websocket.BINARY, b"\x01" + data)
            if not exited:
                self.kill()
            with contextlib.suppress(OSError):  # closed already
                self.raw.close()
        exit_code = self.exit_code()
        with contextlib.suppress(OSError):  # the client is gone: nothing to tell it
            self.send(websocket.TEXT, json.dumps({"exit": exit_code, "reason": reason}).encode())
            self.send(websocket.CLOSE, struct.pack("!H", 1000))
        return {"exit_code": exit_code, "reason": reason, "transcript": b"".join(self.transcript),
                "truncated": self.truncated}

    def why_output_ended(self):
        """The command's own exit, or its container going away (a switch
        retires it: the session's processes die with a signal a moment
        before the container is seen stopped)."""
        killed = self.exit_code() in (-1, 137, 143)
        deadline = time.monotonic() + (10 if killed else 0)
        while True:
            try:
                running = (self.engine.container(self.container_id) or {}).get("status") == "running"
            except Exception:  # noqa: BLE001 - the engine failed on a removed container: retired
                running = False
            if not running:
                return "the environment's container stopped (rebuilt, redeployed, stopped or restarted)"
            if time.monotonic() >= deadline:
                return "the command exited"
            time.sleep(0.2)

    def kill(self):
        """Every process of the session, inside the container."""
        if self.sid is None:
            return
        # The container may be gone with the session (a rebuild): nothing left to kill then.
        with contextlib.suppress(Exception):
            self.engine.exec_run(self.container_id, ["python3", "-c", KILL_SESSION, str(self.sid)])

    def exit_code(self):
        deadline = time.monotonic() + 5
        while True:
            try:
                info = self.engine.exec_state(self.exec_id)
            except Exception:  # noqa: BLE001 - the container went away (rebuilt, removed)
                return -1
            if not info["running"] or time.monotonic() > deadline:
                code = info["exit_code"]
                return code if isinstance(code, int) else -1
            time.sleep(0.1)

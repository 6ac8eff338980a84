"""A small SMTP server that keeps every message it is given.

Development and staging environments send their mail here instead of to
the world. Each environment authenticates with its own user and password
(AUTH PLAIN or LOGIN), which is how a message is filed under the
environment that sent it; mail without authentication is refused.
Listens on every address of the host (``0.0.0.0``): each development or
staging network reaches it at its gateway; the host's firewall
(services/firewall.py) lets only those networks and the loopback in, and
AUTH decides whose mail it is. Plain values in: ``authenticate(user, password)``
returns a key (or None), ``deliver(key, mail_from, rcpt_tos, data)`` stores.
"""

import base64
import binascii
import logging
import socketserver
import threading

_logger = logging.getLogger(__name__)
MAX_MESSAGE = 25 * 1024 * 1024
MAX_RECIPIENTS = 200


class _Handler(socketserver.StreamRequestHandler):
    timeout = 120

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(4096)
        if not line:
            raise ConnectionError("client went away")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def handle(self):
        server = self.server
        key, mail_from, rcpts = None, None, []
        self.reply("220 ipai-ops mail catcher ESMTP")
        try:
            while True:
                line = self.readline()
                verb, _sep, arg = line.partition(" ")
                verb = verb.upper()
                if verb in ("EHLO", "HELO"):
                    if verb == "EHLO":
                        self.reply("250-ipai-ops")
                        self.reply("250-SIZE %d" % MAX_MESSAGE)
                        self.reply("250-8BITMIME")
                        self.reply("250 AUTH PLAIN LOGIN")
                    else:
                        self.reply("250 ipai-ops")
                elif verb == "AUTH":
                    try:
                        key = self._auth(arg)
                    except Exception:  # noqa: BLE001 - the client gets a temporary failure
                        _logger.exception("mail catcher: checking a login failed")
                        self.reply("454 4.7.0 Temporary authentication failure")
                        continue
                    self.reply("235 2.7.0 Authentication successful" if key else "535 5.7.8 Authentication failed")
                elif verb == "MAIL":
                    if not key:
                        self.reply("530 5.7.0 Authentication required")
                        continue
                    mail_from, rcpts = arg.partition(":")[2].strip().split(" ")[0].strip("<>"), []
                    self.reply("250 OK")
                elif verb == "RCPT":
                    if mail_from is None:
                        self.reply("503 5.5.1 MAIL first")
                    elif len(rcpts) >= MAX_RECIPIENTS:
                        self.reply("452 4.5.3 Too many recipients")
                    else:
                        rcpts.append(arg.partition(":")[2].strip().split(" ")[0].strip("<>"))
                        self.reply("250 OK")
                elif verb == "DATA":
                    if not rcpts:
                        self.reply("503 5.5.1 RCPT first")
                        continue
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    data = self._data()
                    if data is None:
                        self.reply("552 5.3.4 Message too big")
                    else:
                        try:
                            server.deliver(key, mail_from, rcpts, data)
                            self.reply("250 OK: kept by the mail catcher")
                        except Exception:  # noqa: BLE001 - the client gets a temporary failure
                            _logger.exception("mail catcher: storing a message failed")
                            self.reply("451 4.3.0 Could not store the message")
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    self.reply("250 OK")
                elif verb == "NOOP":
                    self.reply("250 OK")
                elif verb == "QUIT":
                    self.reply("221 Bye")
                    return
                elif verb == "STARTTLS":
                    self.reply("454 4.7.0 TLS not available (loopback only)")
                else:
                    self.reply("502 5.5.2 Command not recognized")
        except (ConnectionError, TimeoutError, OSError):
            return

    def _auth(self, arg):
        mechanism, _sep, initial = arg.partition(" ")
        try:
            if mechanism.upper() == "PLAIN":
                if not initial:
                    self.reply("334 ")
                    initial = self.readline()
                parts = base64.b64decode(initial).decode().split("\0")
                user, password = parts[-2], parts[-1]
            elif mechanism.upper() == "LOGIN":
                if initial:
                    user = base64.b64decode(initial).decode()
                else:
                    self.reply("334 VXNlcm5hbWU6")
                    user = base64.b64decode(self.readline()).decode()
                self.reply("334 UGFzc3dvcmQ6")
                password = base64.b64decode(self.readline()).decode()
            else:
                return None
        except (binascii.Error, UnicodeDecodeError, IndexError, ValueError):
            return None
        return self.server.authenticate(user, password)

    def _data(self):
        chunks, size = [], 0
        while True:
            line = self.rfile.readline(65536)
            if not line:
                raise ConnectionError("client went away during DATA")
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b".."):
                line = line[1:]
            size += len(line)
            if size <= MAX_MESSAGE:
                chunks.append(line)
        return b"".join(chunks) if size <= MAX_MESSAGE else None


class MailCatcher(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, authenticate, deliver, host="127.0.0.1"):
        if host not in ("127.0.0.1", "::1", "localhost", "0.0.0.0"):
            raise ValueError("The mail catcher listens on the loopback or on every address (behind the firewall).")
        self.authenticate, self.deliver = authenticate, deliver
        super().__init__((host, port), _Handler)

    def start_in_thread(self):
        thread = threading.Thread(target=self.serve_forever, name="ops-mail-catcher", daemon=True)
        thread.start()
        return thread

"""A small SMTP server that keeps every message it is given (aiosmtpd).

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

import asyncio
import logging
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

_logger = logging.getLogger(__name__)
MAX_MESSAGE = 25 * 1024 * 1024
MAX_RECIPIENTS = 200
HOSTS = ("127.0.0.1", "::1", "localhost", "0.0.0.0")
TIMEOUT = 120  # seconds a client may stay silent
# No TLS: the catcher is reached from the loopback and the environments'
# internal networks only (firewall), and AUTH only says whose mail it is.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning)
logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's: says the same per connection
# aiosmtpd 1.4 sets its own deprecated Session.login_data on every login.
warnings.filterwarnings("ignore", message="Session.login_data is deprecated", category=DeprecationWarning)


class _Handler:
    """aiosmtpd's handler hooks: recipients capped, messages delivered in a
    thread (``deliver`` writes to the database) so the server goes on."""

    def __init__(self, deliver):
        self.deliver = deliver

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, self.deliver, session.auth_data, envelope.mail_from, list(envelope.rcpt_tos),
                envelope.original_content)
        except Exception:  # noqa: BLE001 - the client gets a temporary failure
            _logger.exception("mail catcher: storing a message failed")
            return "451 4.3.0 Could not store the message"
        return "250 OK: kept by the mail catcher"


class _SMTP(SMTP):
    """aiosmtpd's server whose logins are checked in a thread: the check
    reads the database, and the event loop serves the other connections
    meanwhile (aiosmtpd calls its authenticator inline)."""

    def __init__(self, handler, authenticate, **kwargs):
        super().__init__(handler, authenticator=_shape_only, **kwargs)
        self.check_login = authenticate

    async def auth_PLAIN(self, _, args):
        return await self._checked(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _, args):
        return await self._checked(await super().auth_LOGIN(_, args))

    async def _checked(self, result):
        if not result.success:
            return result
        try:
            login, password = result.auth_data.login.decode(), result.auth_data.password.decode()
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)
        try:
            key = await asyncio.get_running_loop().run_in_executor(None, self.check_login, login, password)
        except Exception:  # noqa: BLE001 - the client gets a temporary failure
            _logger.exception("mail catcher: checking a login failed")
            return AuthResult(success=False, handled=False, message="454 4.7.0 Temporary authentication failure")
        if not key:
            return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication failed")
        return AuthResult(success=True, auth_data=key)


def _shape_only(server, session, envelope, mechanism, auth_data):
    """aiosmtpd's authenticator: only a login and password pass on (to _SMTP._checked)."""
    if mechanism not in ("PLAIN", "LOGIN") or not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    return AuthResult(success=True, auth_data=auth_data)


class _Controller(Controller):
    def __init__(self, handler, authenticate, **kwargs):
        self.authenticate = authenticate
        super().__init__(handler, **kwargs)

    def factory(self):
        return _SMTP(self.handler, self.authenticate, **self.SMTP_kwargs)


class MailCatcher:
    """The SMTP server, in a thread of its own (``start``, ``stop``)."""

    def __init__(self, port, authenticate, deliver, host="127.0.0.1"):
        if host not in HOSTS:
            raise ValueError("The mail catcher listens on the loopback or on every address (behind the firewall).")
        self.controller = _Controller(
            _Handler(deliver), authenticate, hostname=host, port=port, ready_timeout=10,
            server_hostname="ipai-ops", ident="ipai-ops mail catcher", auth_required=True, auth_require_tls=False,
            data_size_limit=MAX_MESSAGE, timeout=TIMEOUT)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

import smtplib
import threading
import time

from odoo.tests import tagged
from odoo.tests.common import BaseCase
from odoo.tools import mute_logger

from ..services.mail_catcher import MailCatcher
from ..services.ports import free_port


@tagged("post_install", "-at_install", "ipai_ops")
class TestMailCatcher(BaseCase):
    """The SMTP server of development and staging mail, over real sockets."""

    def setUp(self):
        super().setUp()
        self.kept = []

        self.slow_login, self.slow_entered = threading.Event(), threading.Event()

        def authenticate(user, password):
            if user == "broken":
                raise RuntimeError("database unavailable")
            if user == "slow":  # a login check held up (the database is busy)
                self.slow_entered.set()
                self.slow_login.wait(10)
            return 7 if (user, password) == ("env-7", "s3cret") else None

        self.port = free_port()
        self.server = MailCatcher(self.port, authenticate, lambda *message: self.kept.append(message))
        self.server.start()
        self.addCleanup(self.server.stop)

    def smtp(self):
        client = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
        self.addCleanup(client.close)
        return client

    def test_mail_is_kept_under_the_environment_that_logged_in(self):
        client = self.smtp()
        client.login("env-7", "s3cret")
        client.sendmail("shop@example.com", ["anna@customer.example", "bob@customer.example"],
                        "Subject: Your invoice\r\n\r\nHello\r\n.leading dot\r\n")
        client.quit()
        [(key, mail_from, rcpts, data)] = self.kept
        self.assertEqual((key, mail_from, rcpts), (7, "shop@example.com", ["anna@customer.example",
                                                                             "bob@customer.example"]))
        self.assertIn(b"Subject: Your invoice", data)
        self.assertIn(b"\r\n.leading dot\r\n", data, "dot-stuffing is undone")

    def test_a_slow_login_check_holds_up_no_other_client(self):
        """The login check reads the database: it runs beside the server,
        which answers the other environments meanwhile."""
        slow = self.smtp()
        thread = threading.Thread(target=lambda: self.assertRaises(smtplib.SMTPAuthenticationError, slow.login,
                                                                   "slow", "x"))
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(self.slow_login.set)
        self.assertTrue(self.slow_entered.wait(10), "its login is being checked")
        started = time.monotonic()
        other = self.smtp()
        other.login("env-7", "s3cret")
        other.sendmail("shop@example.com", ["anna@customer.example"], "Subject: meanwhile\r\n\r\nbody")
        self.assertLess(time.monotonic() - started, 2, "served while the other login is checked")
        self.assertEqual(len(self.kept), 1)
        self.slow_login.set()

    def test_mail_without_a_valid_login_is_refused_and_nothing_kept(self):
        client = self.smtp()
        with self.assertRaises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("x@example.com", ["y@example.com"], "Subject: no login\r\n\r\nbody")
        self.assertEqual(refused.exception.smtp_code, 530)
        with self.assertRaises(smtplib.SMTPAuthenticationError) as bad:
            client.login("env-7", "guess")
        self.assertEqual(bad.exception.smtp_code, 535)
        with self.assertRaises(smtplib.SMTPAuthenticationError) as broken, \
                mute_logger("odoo.addons.ipai_ops_core.services.mail_catcher"):  # logged with its traceback
            client.login("broken", "x")
        self.assertEqual(broken.exception.smtp_code, 454, "a failing check is a temporary failure")
        self.assertEqual(self.kept, [])

    def test_listens_on_the_loopback_or_every_address_only(self):
        """Every address (the environments' networks reach it at their
        gateway, the firewall admits nobody else) or the loopback: never
        one address picked by a caller."""
        for host in ("192.0.2.10", "example.com", ""):
            with self.subTest(host=host), self.assertRaises(ValueError):
                MailCatcher(free_port(), lambda *a: None, lambda *a: None, host=host)

"""Custom domains, TLS certificates and the front door's settings, by role:
who may change them, and what is refused before anything reaches nginx."""

from contextlib import contextmanager

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger
from psycopg2 import IntegrityError

from .common import OpsCase
from .tls_helpers import ThrowawayCA, other_key_pem


@tagged("post_install", "-at_install", "ipai_ops")
class TestFrontDoor(OpsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ca = ThrowawayCA()
        cls.Domain = cls.env["ops.domain"]
        cls.Cert = cls.env["ops.certificate"]

    @contextmanager
    def refused(self, exception, pattern):
        """Refused, and what the refused call wrote is rolled back (as a request's transaction would be)."""
        with self.assertRaisesRegex(exception, pattern), self.env.cr.savepoint():
            yield

    def add_domain(self, role, name, env=None):
        return self.Domain.with_user(self.users[role]).create({"name": name,
                                                              "environment_id": (env or self.env_prod).id})

    def upload(self, user, names, project=True, key=None, days=90):
        chain, own_key = self.ca.issue(names, days=days)
        return self.Cert.with_user(user).create({"project_id": self.project.id if project else False,
                                                 "certificate": chain, "private_key_upload": key or own_key})

    def test_project_admins_add_custom_domains_to_production_only(self):
        domain = self.add_domain("admin", " Shop.Example.COM. ")
        self.assertEqual(domain.name, "shop.example.com")
        self.assertIn(domain, self.env_prod.domain_ids)
        for role in ("developer", "tester", "viewer"):
            with self.assertRaises(AccessError, msg=role):
                self.add_domain(role, "%s.example.com" % role)
        with self.assertRaises(AccessError):
            domain.with_user(self.users["developer"]).unlink()
        with self.refused(ValidationError, "production"):
            self.add_domain("admin", "staging.example.com", env=self.env_staging)

    def test_hostile_or_foreign_domains_are_refused(self):
        base = self.env["ops.run"]._ops_settings()["base_domain"]
        for bad in ("shop.example.com/x", "http://shop.example.com", "a b.com", "shop.example.com:80", "-x.com",
                    "x.com\nserver { }", "main.other.%s" % base, base):
            with self.assertRaises(ValidationError, msg=bad):
                self.add_domain("admin", bad)
        with self.refused(ValidationError, "wildcard"):
            self.add_domain("admin", "*.example.com")
        with self.assertRaises(AccessError):
            self.project.with_user(self.users["admin"]).allow_wildcard_domains = True
        self.project.with_user(self.manager).allow_wildcard_domains = True
        self.assertTrue(self.add_domain("admin", "*.example.com"))

    def test_a_domain_is_served_by_one_environment_only(self):
        self.add_domain("admin", "shop.example.com")
        other = self.env["ops.project"].with_user(self.manager).create({
            "name": "Other", "slug": "other-shop", "repo_url": "/srv/git/other.git"})
        other_prod = self.env["ops.environment"].with_user(self.manager).create(
            {"project_id": other.id, "branch": "main"})
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.Domain.with_user(self.manager).create({"name": "shop.example.com",
                                                        "environment_id": other_prod.id})

    def test_certificates_are_checked_and_their_key_is_never_shown(self):
        cert = self.upload(self.users["admin"], [self.env_prod.hostname, "shop.example.com"])
        self.assertEqual(cert.names, ",".join(sorted([self.env_prod.hostname, "shop.example.com"])))
        self.assertTrue(88 <= cert.days_left <= 90)
        cert.invalidate_recordset()  # what the next request reads
        self.assertFalse(cert.with_user(self.users["admin"]).read(["private_key_upload"])[0]["private_key_upload"])
        with self.assertRaises(AccessError):
            cert.with_user(self.users["admin"]).read(["private_key"])
        self.assertIn("PRIVATE KEY", cert.sudo().private_key)
        with self.refused(ValidationError, "does not match"):
            self.upload(self.users["admin"], ["shop.example.com"], key=other_key_pem())
        with self.refused(ValidationError, "not PEM"):
            self.Cert.with_user(self.users["admin"]).create({"project_id": self.project.id, "certificate": "x",
                                                             "private_key_upload": other_key_pem()})
        with self.refused(ValidationError, "expired"):
            self.upload(self.users["admin"], ["old.example.com"], days=-2)
        with self.assertRaises(AccessError):
            self.upload(self.users["developer"], ["dev.example.com"])
        with self.assertRaises(AccessError, msg="the platform's certificates are the managers'"):
            self.upload(self.users["admin"], ["*.example.com"], project=False)

    def test_a_covering_certificate_makes_the_url_https(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ipai_ops.proxy_listen_tls", "127.0.0.1:8443")
        self.assertTrue(self.env_prod._ops_public_url().startswith("http://"))
        label, _sep, rest = self.env_prod.hostname.partition(".")
        cert = self.upload(self.manager, ["*." + rest], project=False)
        self.assertEqual(self.env_prod._ops_certificates(), {self.env_prod.hostname: cert})
        self.assertEqual(self.env_prod._ops_public_url(), "https://%s:8443" % self.env_prod.hostname)
        own = self.upload(self.users["admin"], [self.env_prod.hostname], days=30)
        self.assertEqual(self.env_prod._ops_certificates()[self.env_prod.hostname], own,
                         "the project's own certificate comes first")
        server = self.env_prod._ops_proxy_server() if self.env_prod.port else None
        self.assertIsNone(server, "an environment never built is not served")

    def test_the_front_door_settings_are_checked(self):
        params = self.env["ir.config_parameter"].sudo()
        for key, bad in (("ipai_ops.base_domain", "https://ops.example.com"),
                         ("ipai_ops.base_domain", "ops.example.com/path"),
                         ("ipai_ops.base_domain", "ops.example.com:80"),
                         ("ipai_ops.proxy_listen", "0.0.0.0"),
                         ("ipai_ops.proxy_listen_tls", "0.0.0.0:443; x"),
                         ("ipai_ops.public_scheme", "ftp"),
                         ("ipai_ops.public_port", "99999")):
            with self.assertRaises(ValidationError, msg=(key, bad)):
                params.set_param(key, bad)
        params.set_param("ipai_ops.base_domain", "ops.example.com")
        self.assertEqual(self.env["ops.run"]._ops_settings()["base_domain"], "ops.example.com")

    def test_an_expiring_certificate_is_announced_once(self):
        cert = self.upload(self.users["admin"], [self.env_prod.hostname], days=10)
        self.assertEqual(self.Cert._cron_announce_expiry(), 1)
        self.assertIn("expires on", cert.message_ids[0].body)
        self.assertEqual(self.Cert._cron_announce_expiry(), 0, "announced once per expiry date")

"""services/tls.py: what an uploaded certificate says, a key that does not
match it, and which names a certificate covers (certificates from a
throwaway CA made here)."""

import pytest
from odoo.addons.ipai_ops_core.services import tls
from odoo.addons.ipai_ops_core.tests.tls_helpers import ThrowawayCA, other_key_pem


@pytest.fixture(name="ca", scope="module")
def ca_fixture():
    return ThrowawayCA()


def test_a_certificate_says_its_names_and_expiry(ca):
    cert, key = ca.issue(["shop.example.com", "www.shop.example.com"], days=40)
    info = tls.inspect(cert + ca.pem, key, now=tls.utcnow())
    assert info["names"] == ["shop.example.com", "www.shop.example.com"]
    assert 39 <= (info["not_after"] - tls.utcnow()).days <= 40
    assert "ipai ops test CA" in info["issuer"] and len(info["fingerprint"]) == 64
    assert info["chain"].count("BEGIN CERTIFICATE") == 2, "the chain is kept, the server's certificate first"


@pytest.mark.parametrize("cert, key, message", [
    ("", None, "empty"),
    ("hello", None, "not PEM"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", None, "cannot be read"),
])
def test_what_is_not_a_certificate_is_refused(cert, key, message):
    with pytest.raises(tls.CertificateError, match=message):
        tls.inspect(cert, key)


def test_a_key_must_match_be_pem_and_have_no_passphrase(ca):
    cert, key = ca.issue(["shop.example.com"])
    with pytest.raises(tls.CertificateError, match="does not match"):
        tls.inspect(cert, other_key_pem())
    with pytest.raises(tls.CertificateError, match="not PEM"):
        tls.inspect(cert, "secret")
    assert tls.inspect(cert, key)["names"] == ["shop.example.com"]


def test_an_expired_certificate_is_refused(ca):
    cert, key = ca.issue(["old.example.com"], days=-1)
    with pytest.raises(tls.CertificateError, match="expired"):
        tls.inspect(cert, key, now=tls.utcnow())


@pytest.mark.parametrize("names, hostname, covered", [
    (["shop.example.com"], "shop.example.com", True),
    (["shop.example.com"], "www.shop.example.com", False),
    (["*.acme.ops.example.com"], "main.acme.ops.example.com", True),
    (["*.acme.ops.example.com"], "acme.ops.example.com", False),
    (["*.acme.ops.example.com"], "a.main.acme.ops.example.com", False),
    (["*.ops.example.com"], "main.acme.ops.example.com", False),
    (["*.example.com"], "*.example.com", True),
])
def test_which_names_a_certificate_covers(names, hostname, covered):
    assert tls.covers(names, hostname) is covered

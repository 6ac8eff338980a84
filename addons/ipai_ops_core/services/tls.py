"""TLS certificates for the front door: what an uploaded certificate says
(the names it covers, until when), whether its key matches, and which
names it covers. Plain values in (PEM text) and out; nothing is written."""

import hashlib
import re
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class CertificateError(ValueError):
    """A certificate or key that cannot be used; the message says why."""


def _public(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def inspect(cert_pem, key_pem=None, now=None):
    """{'names': DNS names it covers (lowercase), 'not_before', 'not_after'
    (naive UTC datetimes), 'issuer', 'fingerprint' (SHA-256 of the leaf, hex),
    'chain': PEM of the leaf then its intermediates}. With ``key_pem``, the
    key must be a PEM private key without a passphrase and match the
    certificate. Raises :class:`CertificateError`."""
    if not isinstance(cert_pem, str) or not cert_pem.strip():
        raise CertificateError("The certificate is empty: paste its PEM text (-----BEGIN CERTIFICATE-----).")
    blocks = _PEM_CERT.findall(cert_pem)
    if not blocks:
        raise CertificateError("The certificate is not PEM: it must contain -----BEGIN CERTIFICATE----- ... "
                               "-----END CERTIFICATE----- (the full chain, the server's certificate first).")
    try:
        certs = [x509.load_pem_x509_certificate(block.encode()) for block in blocks]
    except ValueError as exc:
        raise CertificateError("The certificate cannot be read: %s" % exc) from exc
    leaf = certs[0]
    names = []
    try:
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [attr.value for attr in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    names = sorted({name.lower().rstrip(".") for name in names if isinstance(name, str)})
    if not names:
        raise CertificateError("The certificate names no host (no DNS name in its subject alternative names).")
    if now and leaf.not_valid_after < now:
        raise CertificateError("The certificate expired on %s (UTC)." % leaf.not_valid_after.isoformat(" "))
    if key_pem is not None:
        if not isinstance(key_pem, str) or "PRIVATE KEY-----" not in key_pem:
            raise CertificateError("The private key is not PEM: it must contain -----BEGIN PRIVATE KEY----- "
                                   "(or RSA / EC PRIVATE KEY).")
        try:
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except TypeError as exc:
            raise CertificateError("The private key is protected by a passphrase: upload it without one.") from exc
        except ValueError as exc:
            raise CertificateError("The private key cannot be read: %s" % exc) from exc
        if _public(key.public_key()) != _public(leaf.public_key()):
            raise CertificateError("The private key does not match the certificate (another key pair).")
    return {
        "names": names, "not_before": leaf.not_valid_before, "not_after": leaf.not_valid_after,
        "issuer": leaf.issuer.rfc4514_string(),
        "fingerprint": hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        "chain": "".join(cert.public_bytes(serialization.Encoding.PEM).decode() for cert in certs),
    }


def covers(names, hostname):
    """Whether a certificate for ``names`` is valid for ``hostname`` (RFC
    6125: a wildcard stands for exactly one leftmost label, so
    ``*.acme.example.com`` covers ``main.acme.example.com`` but neither
    ``acme.example.com`` nor ``a.b.acme.example.com``)."""
    hostname = hostname.lower()
    for name in names:
        if name == hostname:
            return True
        if name.startswith("*.") and not hostname.startswith("*."):
            label, _sep, rest = hostname.partition(".")
            if label and rest == name[2:]:
                return True
    return False


def utcnow():
    return datetime.utcnow()  # naive UTC, like the certificate's dates in this cryptography version

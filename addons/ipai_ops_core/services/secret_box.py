"""Secrets at rest: what the control plane keeps in its database in a form
a dump alone does not give away.

A secret is stored as ``ipai-enc:v1:<key id>:<Fernet token>`` (AES-128-CBC
and HMAC-SHA256, from ``cryptography``). The key lives in a file outside the
database, readable by its owner only (mode 0600 in a 0700 directory),
created on first use: it is backed up with the control plane, never inside
its database. A key file holds one key per line (URL-safe base64, as
``Fernet.generate_key()`` writes it; ``#`` starts a comment): the first one
encrypts, every one decrypts, so a key can be rotated by putting a new one
first. The key id (8 hex digits of the key's SHA-256) says which key a value
needs, so a wrong key file is named as such instead of failing somewhere
later.

Plain values in (a path, a string); nothing here knows about Odoo's ORM.
"""

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import stat

from cryptography.fernet import Fernet, InvalidToken

MARK = "ipai-enc:v1:"
DIR_MODE, FILE_MODE = 0o700, 0o600
_cache = {}  # path -> (file signature, [(key id, key), ...])


class SecretKeyError(Exception):
    """The key file is missing, unreadable, not a key file, or not the one a
    value was encrypted with. The message says which file and what to do."""


def default_key_file(data_dir):
    return os.path.join(data_dir, "ipai_ops_keys", "secrets.key")


def is_sealed(value):
    return isinstance(value, str) and value.startswith(MARK)


def key_id(key):
    return hashlib.sha256(key).hexdigest()[:8]


def seal(path, clear):
    """``clear`` (a string) encrypted with the first key of ``path`` (the
    key file is made when there is none yet)."""
    kid, key = _keys(path, create=True)[0]
    token = Fernet(key).encrypt(clear.encode("utf-8")).decode("ascii")
    return "%s%s:%s" % (MARK, kid, token)


def unseal(path, sealed, what="a secret"):
    """The clear text of ``sealed``; ``what`` names it in errors."""
    kid, sep, token = sealed[len(MARK):].partition(":") if is_sealed(sealed) else ("", "", "")
    if not sep or not kid or not token:
        raise SecretKeyError("%s is not a value ipai ops encrypted (%s<key id>:<token> expected)." % (what, MARK))
    keys = dict(_keys(path))
    if kid not in keys:
        raise SecretKeyError(
            "Cannot decrypt %s: it was encrypted with key %s, and the key file %s holds %s. Put back the key file "
            "that belongs to this database (it is backed up with the control plane, never inside the database), "
            "or point the Odoo option ipai_ops_key_file at it." % (what, kid, path, _describe(keys)))
    try:
        return Fernet(keys[kid]).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise SecretKeyError("Cannot decrypt %s with key %s of %s: the stored value was altered (its "
                             "authentication check fails)." % (what, kid, path)) from exc


def derive(path, purpose):
    """A secret of its own for ``purpose`` (bytes), derived from the first
    key: stable while the key file is, unknown to whoever only has the
    database."""
    _kid, key = _keys(path, create=True)[0]
    return hmac.new(base64.urlsafe_b64decode(key), b"ipai-ops-derive:" + purpose, hashlib.sha256).digest()


def _describe(keys):
    return "key %s" % ", ".join(sorted(keys)) if keys else "no key"


def _keys(path, create=False):
    """[(key id, key), ...] of the key file at ``path``, first key first."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if not create:
            raise SecretKeyError(
                "The encryption key file %s does not exist, so the secrets this database holds cannot be "
                "decrypted. Put it back from the control plane's backup (it is backed up with the control plane, "
                "never inside the database), or point the Odoo option ipai_ops_key_file at it." % path) from None
        _create(path)
        info = os.stat(path)
    signature = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)
    cached = _cache.get(path)
    if cached and cached[0] == signature:
        return cached[1]
    if not stat.S_ISREG(info.st_mode):
        raise SecretKeyError("The encryption key file %s is not a regular file." % path)
    if info.st_mode & 0o077:
        raise SecretKeyError("The encryption key file %s is readable or writable by others (mode %o): only its "
                             "owner may read it (chmod 600 %s)." % (path, stat.S_IMODE(info.st_mode), path))
    try:
        with open(path, "rb") as fh:
            lines = fh.read().decode("ascii").splitlines()
    except (OSError, UnicodeError) as exc:
        raise SecretKeyError("Cannot read the encryption key file %s: %s" % (path, exc)) from exc
    keys = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if len(base64.urlsafe_b64decode(line.encode("ascii"))) != 32:
                raise ValueError
        except (ValueError, binascii.Error):
            raise SecretKeyError("The encryption key file %s is not valid: line %d is not a key (44 characters of "
                                 "URL-safe base64, as Fernet.generate_key() writes)." % (path, number)) from None
        keys.append((key_id(line.encode("ascii")), line.encode("ascii")))
    if not keys:
        raise SecretKeyError("The encryption key file %s holds no key." % path)
    _cache[path] = (signature, keys)
    return keys


def _create(path):
    """A new key at ``path``: written to a file of its own, then linked in
    place, so two processes starting together agree on one key."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)
    partial = "%s.%d.partial" % (path, os.getpid())
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"# ipai ops: the key of the control plane's secrets. Back it up with the control plane.\n")
            fh.write(Fernet.generate_key() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(partial, FILE_MODE)
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs is the key
            os.link(partial, path)
    finally:
        os.unlink(partial)

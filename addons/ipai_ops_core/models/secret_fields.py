"""Encrypted Char and Text fields: the column holds ``ipai-enc:v1:...`` (see
services/secret_box.py), the ORM gives the clear text.

How values travel in Odoo 18 (odoo/fields.py, odoo/models.py):

- read from the database, a value goes into the cache as it is (the
  ciphertext) and through ``convert_to_record`` on access: decrypted there;
- a value given to the ORM (create, write, assignment, defaults) reaches
  the cache through ``convert_to_cache``: encrypted there, and marked as
  ours (``_Sealed``), so that a clear text which happens to start with the
  marker is encrypted like any other instead of being taken for ciphertext;
- the column gets ``convert_to_column`` / ``convert_to_column_update``:
  the sealed value as it is, a clear one encrypted.

Fernet is not deterministic: searching these fields for a value never
matches (``!= False`` still works); nothing searches them.
"""

import os

from odoo import _, fields, tools
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..services import secret_box


def key_file():
    """The key file: Odoo option ``ipai_ops_key_file``, by default
    ``<data_dir>/ipai_ops_keys/secrets.key``."""
    path = tools.config.get("ipai_ops_key_file")
    if path:
        return os.path.abspath(os.path.expanduser(os.path.expandvars(path)))
    return secret_box.default_key_file(tools.config["data_dir"])


def _keyed(function, *args):
    """``function(key file, *args)``, its errors as UserError (clear messages)."""
    path = key_file()
    try:
        return function(path, *args)
    except secret_box.SecretKeyError as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:
        raise UserError(_("Cannot make or read the encryption key file %(path)s: %(error)s", path=path,
                          error=exc)) from exc


def seal(clear):
    return _keyed(secret_box.seal, clear)


def unseal(sealed, what="a secret"):
    return _keyed(secret_box.unseal, sealed, what)


def derive(purpose):
    return _keyed(secret_box.derive, purpose)


class _Sealed(str):
    """A cache value this process encrypted (never a value given to the ORM)."""

    __slots__ = ()


class _SecretMixin:
    def convert_to_cache(self, value, record, validate=True):
        if isinstance(value, _Sealed):
            return value
        clear = super().convert_to_cache(value, record, validate)
        return _Sealed(seal(clear)) if clear else clear

    def convert_to_record(self, value, record):
        if secret_box.is_sealed(value):
            return unseal(value, "%s of %s" % (self, record))
        # A clear value the migration has not encrypted yet.
        return super().convert_to_record(value, record)

    def convert_to_write(self, value, record):
        return unseal(value, str(self)) if isinstance(value, _Sealed) else value

    def convert_to_column(self, value, record, values=None, validate=True):
        value = self.convert_to_cache(value, record, validate)
        return str(value) if value is not None else None

    def convert_to_column_update(self, value, record):
        # what the cache holds (to flush) is already encrypted
        return str(value) if isinstance(value, _Sealed) else super().convert_to_column_update(value, record)


class SecretChar(_SecretMixin, fields.Char):
    """A Char whose column holds its value encrypted."""


class SecretText(_SecretMixin, fields.Text):
    """A Text whose column holds its value encrypted."""


def seal_clear_values(env, model_name, field_names):
    """Encrypt the values of ``field_names`` still in clear in the table of
    ``model_name`` (stored before these fields were encrypted); the
    migrations call it. Returns how many values it encrypted."""
    model = env[model_name]
    model.flush_model(field_names)
    done = 0
    for name in field_names:
        column = SQL.identifier(name)
        env.cr.execute(SQL("SELECT id, %s FROM %s WHERE %s IS NOT NULL AND %s <> '' AND NOT starts_with(%s, %s)",
                           column, SQL.identifier(model._table), column, column, column, secret_box.MARK))
        for record_id, clear in env.cr.fetchall():
            env.cr.execute(SQL("UPDATE %s SET %s = %s WHERE id = %s", SQL.identifier(model._table), column,
                               seal(clear), record_id))
            done += 1
    model.invalidate_model(field_names)
    return done

"""Arguments of the public methods (XML-RPC, the CLI, buttons) checked in
one place, so a malformed one gets a clear error naming it instead of a
database error or a ValueError's text."""

from odoo.exceptions import UserError, ValidationError

from ..services import env_log


def positive_id(env, value, name):
    """An id given as an argument: a positive integer (``env``: the
    caller's, whose language the error speaks)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(env._("%(name)s must be the id of a record (a positive integer), not %(value)r.",
                                    name=name, value=value))
    return value


def valid_records(records, label):
    """The records a public method was called on (``[ids]`` over XML-RPC):
    ids that are ids, of records that exist."""
    bad = [i for i in records._ids if isinstance(i, bool) or not isinstance(i, int) or i <= 0]
    if bad:
        raise ValidationError(records.env._("%(label)s ids are positive integers, not %(ids)s.", label=label,
                                            ids=", ".join(map(repr, bad[:5]))))
    missing = records - records.exists()
    if missing:
        raise UserError(records.env._("No %(label)s with id %(ids)s.", label=label.lower(),
                                      ids=", ".join(map(str, missing.ids[:5]))))
    return records


def time_arg(env, name, value):
    """A point in time given as an argument: a duration ago ("10m", "2h",
    "7d") or a UTC date and time; epoch seconds (``env``: the caller's,
    whose language the error speaks)."""
    if not isinstance(value, str):
        raise ValidationError(env._("%(name)s must be a duration (10m, 2h, 7d) or a UTC date and time, not "
                                    "%(value)r.", name=name, value=value))
    try:
        return env_log.parse_since(value)
    except ValueError as exc:
        raise ValidationError(env._("%(name)s: %(error)s", name=name, error=exc)) from exc

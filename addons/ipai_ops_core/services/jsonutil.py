"""JSON <-> text for editable JSON settings (plain values, no ORM)."""

import json


def json_text(value):
    if value in (None, False):
        return ""
    return json.dumps(value, indent=2, sort_keys=True)


def parse_json_text(text):
    """Parse user-entered JSON; raise ValueError with a readable message."""
    if not text or not text.strip():
        return False
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError("Invalid JSON: %s (line %d, column %d)" % (exc.msg, exc.lineno, exc.colno)) from exc


def without_nulls(value):
    """``value`` with every None made False (XML-RPC cannot carry None)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_nulls(item) for item in value]
    return False if value is None else value

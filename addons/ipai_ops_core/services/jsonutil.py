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

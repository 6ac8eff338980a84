"""A webhook delivery: the JSON body (Slack-compatible: a ``text`` field
next to the incident's details), its HMAC-SHA256 signature and one POST
with a short timeout. Plain values."""

import hashlib
import hmac
import json

import requests

TIMEOUT = 10
SIGNATURE_HEADER = "X-Ipai-Ops-Signature"
BACKOFF_MINUTES = (1, 2, 4, 8, 16)  # after each failed attempt; then the delivery has failed


def body(payload):
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def signature(secret, data):
    return "sha256=" + hmac.new((secret or "").encode(), data, hashlib.sha256).hexdigest()


def send(url, payload, secret):
    """(sent, what the receiver said: its HTTP status or the error)."""
    data = body(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "ipai-ops-alerts"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, data)
    try:
        answer = requests.post(url, data=data, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return False, "%s: %s" % (type(exc).__name__, str(exc)[:200])
    return 200 <= answer.status_code < 300, "HTTP %d" % answer.status_code

"""Which backups to keep: 7 daily / 4 weekly / 3 monthly, as a pure function.

Plain values in, a decision out; tested over simulated calendars. Buckets
are calendar days, ISO weeks and months in the project's time zone (so a
daylight-saving change never makes two days of one or one of two); each
rule keeps the newest successful backup of each of its last N buckets that
have a backup (gaps of several days do not shorten the history), and a
backup may be kept by several rules. Whatever the policy says, the newest
successful backup is kept. Manual and pre-deploy / pre-restore backups are
kept for a number of days instead.
"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

DEFAULT_POLICY = {"daily": 7, "weekly": 4, "monthly": 3, "manual_days": 30}
SCHEDULED = ("daily",)
ON_DEMAND = ("manual", "pre_deploy", "pre_restore")


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def select(backups, now, policy=None, tz="UTC"):
    """Decide which backups to keep.

    ``backups``: iterable of dicts with ``id``, ``kind`` (daily, manual,
    pre_deploy, pre_restore), ``state`` (only ``done`` counts as successful)
    and ``started_at`` (datetime; naive means UTC).
    Returns ``(keep, delete)``: ``keep`` maps id -> list of reasons,
    ``delete`` is the sorted list of ids to remove. Unfinished backups
    (pending, running) are neither kept nor deleted: they are not decided yet.
    """
    policy = dict(DEFAULT_POLICY, **(policy or {}))
    for key in ("daily", "weekly", "monthly", "manual_days"):
        if not isinstance(policy[key], int) or policy[key] < 0:
            raise ValueError("retention %s must be a non-negative integer" % key)
    zone = ZoneInfo(tz)
    now = _aware(now)
    backups = [dict(b, started_at=_aware(b["started_at"])) for b in backups]
    done = sorted((b for b in backups if b["state"] == "done"), key=lambda b: (b["started_at"], b["id"]),
                  reverse=True)
    keep = {}

    def mark(backup, reason):
        keep.setdefault(backup["id"], []).append(reason)

    scheduled = [b for b in done if b["kind"] in SCHEDULED]
    rules = (
        ("daily", lambda d: d.strftime("%Y-%m-%d")),
        ("weekly", lambda d: "%04d-W%02d" % d.isocalendar()[:2]),
        ("monthly", lambda d: d.strftime("%Y-%m")),
    )
    for name, bucket_of in rules:
        seen = set()
        for backup in scheduled:  # newest first: the first of each bucket is its newest
            bucket = bucket_of(backup["started_at"].astimezone(zone))
            if bucket in seen:
                continue
            if len(seen) == policy[name]:
                break
            seen.add(bucket)
            mark(backup, "%s %s" % (name, bucket))
    limit = now - timedelta(days=policy["manual_days"])
    for backup in done:
        if backup["kind"] in ON_DEMAND and backup["started_at"] >= limit:
            mark(backup, "%s, kept until %s" % (backup["kind"], (backup["started_at"] + timedelta(
                days=policy["manual_days"])).astimezone(zone).strftime("%Y-%m-%d")))
    if done:
        mark(done[0], "newest successful backup")
    undecided = {b["id"] for b in backups if b["state"] in ("pending", "running")}
    delete = sorted(b["id"] for b in backups if b["id"] not in keep and b["id"] not in undecided)
    return keep, delete


def utc(*args):
    """datetime in UTC (a helper for callers and tests)."""
    return datetime(*args, tzinfo=timezone.utc)

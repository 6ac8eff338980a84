from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..services import retention
from ..services.retention import utc


def daily(start, days, step=1, hour=2, kind="daily", state="done", first_id=1):
    """One backup every ``step`` days at ``hour`` UTC, oldest first."""
    return [{"id": first_id + i, "kind": kind, "state": state,
             "started_at": start + timedelta(days=i * step, hours=hour)} for i in range(days)]


def kept_days(backups, keep):
    return sorted({b["started_at"].strftime("%Y-%m-%d") for b in backups if b["id"] in keep})


@tagged("post_install", "-at_install", "ipai_ops")
class TestRetention(BaseCase):
    def test_sixty_days_of_daily_backups(self):
        backups = daily(utc(2026, 9, 1), 60)  # 2026-09-01 .. 2026-10-30
        keep, delete = retention.select(backups, now=utc(2026, 10, 30, 12))
        reasons = [r for rs in keep.values() for r in rs]
        self.assertEqual(sum(r.startswith("daily") for r in reasons), 7)
        self.assertEqual(sum(r.startswith("weekly") for r in reasons), 4)
        # monthly keeps 3, but only two months (September, October) have backups yet
        self.assertEqual(sum(r.startswith("monthly") for r in reasons), 2)
        self.assertEqual(kept_days(backups, keep)[-7:], ["2026-10-%02d" % d for d in range(24, 31)])
        self.assertIn("monthly 2026-09", keep[30])  # 2026-09-30 is September's newest
        self.assertEqual(len(keep) + len(delete), 60)
        self.assertLessEqual(len(keep), 7 + 4 + 3)

    def test_month_and_year_boundaries(self):
        backups = daily(utc(2026, 10, 20), 90)  # 2026-10-20 .. 2027-01-17
        keep, _delete = retention.select(backups, now=utc(2027, 1, 17, 12))
        monthly = sorted(r for rs in keep.values() for r in rs if r.startswith("monthly"))
        self.assertEqual(monthly, ["monthly 2026-11", "monthly 2026-12", "monthly 2027-01"])
        weekly = sorted(r for rs in keep.values() for r in rs if r.startswith("weekly"))
        # ISO weeks across the year boundary: 2026-W53 exists (2026 has 53 ISO weeks)
        self.assertEqual(weekly, ["weekly 2026-W52", "weekly 2026-W53", "weekly 2027-W01", "weekly 2027-W02"])
        by_id = {b["id"]: b for b in backups}
        dec31 = [i for i, b in by_id.items() if b["started_at"].date() == datetime(2026, 12, 31).date()][0]
        self.assertIn("monthly 2026-12", keep[dec31], "December's newest is the 31st")

    def test_gaps_of_several_days_keep_seven_backup_days(self):
        backups = daily(utc(2026, 6, 1), 20, step=3)
        keep, _delete = retention.select(backups, now=utc(2026, 8, 30), policy={"weekly": 0, "monthly": 0})
        self.assertEqual(len(keep), 7, "the last seven days that have a backup, 21 days apart in time")
        self.assertEqual(sorted(keep), list(range(14, 21)))

    def test_many_backups_on_one_day_keep_the_newest(self):
        backups = [{"id": i, "kind": "daily", "state": "done", "started_at": utc(2026, 3, 10, i)}
                   for i in range(1, 24)]
        keep, delete = retention.select(backups, now=utc(2026, 3, 11))
        self.assertEqual(list(keep), [23])
        self.assertEqual(len(delete), 22)

    def test_clock_changes_one_backup_per_local_day(self):
        """Brussels leaves summer time on 2026-10-25: a backup at 00:30 local
        time each night is 22:30 UTC before and 23:30 UTC after."""
        zone = ZoneInfo("Europe/Brussels")
        backups = []
        for i in range(10):
            local = datetime(2026, 10, 20 + i, 0, 30, tzinfo=zone)
            backups.append({"id": i + 1, "kind": "daily", "state": "done",
                            "started_at": local.astimezone(timezone.utc)})
        keep, _delete = retention.select(backups, now=utc(2026, 10, 30), policy={"weekly": 0, "monthly": 0},
                                         tz="Europe/Brussels")
        days = sorted(r for rs in keep.values() for r in rs if r.startswith("daily"))
        self.assertEqual(days, ["daily 2026-10-%02d" % d for d in range(23, 30)])
        # Bucketed in UTC instead, 23:30 UTC of the 24th and 22:30 UTC of the 25th would not collide,
        # but the local-day buckets are what the people restoring think in.
        keep_utc, _ = retention.select(backups, now=utc(2026, 10, 30), policy={"weekly": 0, "monthly": 0})
        self.assertEqual(len(keep_utc), 7)

    def test_newest_successful_backup_is_never_deleted(self):
        backups = daily(utc(2026, 1, 1), 5) + [
            {"id": 99, "kind": "daily", "state": "failed", "started_at": utc(2026, 2, 1)},
            {"id": 100, "kind": "daily", "state": "running", "started_at": utc(2026, 2, 2)},
        ]
        keep, delete = retention.select(backups, now=utc(2026, 6, 1),
                                        policy={"daily": 0, "weekly": 0, "monthly": 0})
        self.assertEqual(keep, {5: ["newest successful backup"]})
        self.assertIn(99, delete, "failed backups go")
        self.assertNotIn(100, delete, "a running backup is not decided yet")

    def test_manual_and_pre_deploy_backups_expire(self):
        backups = daily(utc(2026, 5, 1), 3) + [
            {"id": 10, "kind": "manual", "state": "done", "started_at": utc(2026, 4, 1)},
            {"id": 11, "kind": "manual", "state": "done", "started_at": utc(2026, 5, 2)},
            {"id": 12, "kind": "pre_deploy", "state": "done", "started_at": utc(2026, 3, 1)},
        ]
        keep, delete = retention.select(backups, now=utc(2026, 5, 10), policy={"manual_days": 14})
        self.assertIn(11, keep)
        self.assertEqual([i for i in (10, 12) if i in delete], [10, 12])
        self.assertIn("kept until 2026-05-16", keep[11][0])

    def test_policy_is_validated(self):
        with self.assertRaises(ValueError):
            retention.select([], now=utc(2026, 1, 1), policy={"daily": -1})
        self.assertEqual(retention.select([], now=utc(2026, 1, 1)), ({}, []))

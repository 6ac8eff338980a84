import io
import os
import tempfile
import zipfile
from datetime import datetime, timedelta

from odoo.addons.ipai_ops_core.tests.common import OpsCase
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..services import backup_store


@tagged("post_install", "-at_install", "ipai_ops")
class TestBackupModel(OpsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tempfile.mkdtemp(prefix="ipai-ops-bk-test-")
        cls.env["ir.config_parameter"].sudo().set_param("ipai_ops.backup_root", cls.root)
        # A production environment that runs (as a build would leave it).
        cls.env_prod.sudo().write({"state": "running", "database_name": "x_test_prod", "image_digest": "sha256:0"})
        cls.Backup = cls.env["ops.backup"]

    def make_done(self, when, kind="daily"):
        backup = self.Backup.sudo().create({"environment_id": self.env_prod.id, "kind": kind})
        path = backup._storage_path()
        os.makedirs(path)
        with open(os.path.join(path, "manifest.json"), "w") as fh:
            fh.write("{}")
        backup.write({"state": "done", "started_at": when, "finished_at": when, "location": path})
        return backup

    def test_retention_cron_keeps_7_4_3_and_removes_the_rest_from_disk(self):
        now = datetime(2026, 11, 20, 12)
        backups = [self.make_done(now - timedelta(days=d, hours=10)) for d in range(120)]
        deleted = self.Backup._cron_apply_retention(now=now)
        kept = [b for b in backups if b.state == "done"]
        # 7 days + 4 weeks + 3 months, with overlaps: between 7 and 14 backups
        self.assertTrue(7 <= len(kept) <= 14, len(kept))
        self.assertEqual(len(deleted), 120 - len(kept))
        self.assertIn(backups[0], kept, "the newest backup is kept")
        self.assertIn("daily", backups[0].keep_reason)
        for backup in backups:
            self.assertEqual(os.path.isdir(backup.location), backup.state == "done", backup.keep_reason)
        # The project's own policy: a stricter one keeps fewer.
        self.project.sudo().write({"backup_keep_daily": 2, "backup_keep_weekly": 0, "backup_keep_monthly": 0})
        self.Backup._cron_apply_retention(now=now)
        self.assertEqual(len([b for b in backups if b.state == "done"]), 2)

    def test_newest_backup_survives_a_zero_policy(self):
        self.project.sudo().write({"backup_keep_daily": 0, "backup_keep_weekly": 0, "backup_keep_monthly": 0})
        old = self.make_done(datetime(2026, 1, 1))
        self.Backup._cron_apply_retention(now=datetime(2026, 11, 1))
        self.assertEqual(old.state, "done")
        self.assertIn("newest", old.keep_reason)

    def test_manual_backups_need_an_admin_and_are_capped_per_day(self):
        with self.assertRaises(AccessError):
            self.Backup.with_user(self.users["developer"]).create_backup({"project": "test-shop"})
        with self.assertRaises(AccessError):
            self.Backup.with_user(self.users["outsider"]).create_backup({"project": "test-shop"})
        self.project.sudo().backup_manual_daily_cap = 2
        admin = self.Backup.with_user(self.users["admin"])
        first = admin.create_backup({"project": "test-shop"})
        self.assertEqual((first["kind"], first["state"], first["environment"]), ("manual", "pending", "test-shop/main"))
        run = self.env["ops.run"].browse(first["run_id"])
        self.assertEqual((run.kind, run.config["backup_id"]), ("backup", first["id"]))
        admin.create_backup({"project": "test-shop"})
        with self.assertRaisesRegex(UserError, "daily cap"):
            admin.create_backup({"project": "test-shop"})
        with self.assertRaises(ValidationError):
            admin.create_backup({"project": "test-shop", "kind": "daily"})
        with self.assertRaises(ValidationError):
            admin.create_backup({"project": "test-shop", "sql": "DROP TABLE res_users"})

    def test_production_backups_are_hidden_from_developers(self):
        backup = self.make_done(datetime(2026, 11, 1))
        self.assertFalse(self.Backup.with_user(self.users["developer"]).search([("id", "=", backup.id)]))
        self.assertTrue(self.Backup.with_user(self.users["admin"]).search([("id", "=", backup.id)]))
        with self.assertRaises(AccessError):
            backup.with_user(self.users["developer"]).restore_backup()
        with self.assertRaises(UserError):
            backup.with_user(self.users["admin"]).write({"state": "failed"})

    def test_restore_into_another_production_is_refused_and_into_staging_needs_a_build(self):
        backup = self.make_done(datetime(2026, 11, 1))
        with self.assertRaisesRegex(UserError, "build it first"):
            backup.with_user(self.users["admin"]).restore_backup(self.env_staging.id)
        run = backup.with_user(self.users["admin"]).restore_backup()
        self.assertEqual((run["kind"], run["state"]), ("restore", "queued"))
        pre = self.Backup.sudo().search([("run_id", "=", run["id"])])
        self.assertEqual(pre.kind, "pre_restore")

    def test_production_restore_waits_for_approval_when_the_project_asks(self):
        self.project.sudo().production_approval = True
        backup = self.make_done(datetime(2026, 11, 1))
        run = backup.with_user(self.users["admin"]).restore_backup()
        self.assertEqual(run["state"], "waiting_approval")
        record = self.env["ops.run"].browse(run["id"])
        with self.assertRaises(AccessError):
            record.with_user(self.users["tester"]).approve_run()
        record.with_user(self.users["owner"]).approve_run()
        self.assertEqual(record.state, "queued")
        # Backups themselves never wait: they protect production.
        taken = self.Backup.with_user(self.users["admin"]).create_backup({"project": "test-shop"})
        self.assertEqual(self.env["ops.run"].browse(taken["run_id"]).state, "queued")

    def test_interrupted_backup_is_failed_and_its_partial_files_removed(self):
        backup = self.Backup.with_user(self.users["admin"]).create_backup({"project": "test-shop"})
        record = self.Backup.browse(backup["id"])
        run = record.run_id
        worker = self.as_worker(run)
        worker.claim_next_run("w1", ["backup"], ["test-shop"])
        worker.start_workflow_run("w1")
        path = record._storage_path()
        os.makedirs(path + ".partial")
        record.sudo().write({"state": "running", "location": path})
        worker.complete_workflow_run(1, "worker lost its disk", "w1")
        self.assertEqual(record.state, "failed")
        self.assertFalse(os.path.exists(path + ".partial"))

    def test_bulk_backup_notification_says_what_was_queued(self):
        # A developer may not back up development (the matrix): nothing queued, said in the title, a warning.
        params = self.env_dev.with_user(self.users["developer"]).action_bulk_backup()["params"]
        self.assertEqual((params["title"], params["type"], params["done"]), ("No backup queued", "warning", []))
        self.assertIn("Refused 1", params["message"])
        # Development has no database yet: production's backup is queued, the title says 1 of 2.
        params = (self.env_prod | self.env_dev).with_user(self.manager).action_bulk_backup()["params"]
        self.assertEqual((params["title"], params["type"], len(params["done"])),
                         ("Backup queued: 1 of 2", "warning", 1))


@tagged("post_install", "-at_install", "ipai_ops")
class TestImportZip(OpsCase):
    def test_zip_entries_outside_the_filestore_are_refused(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("dump.sql", "SELECT 1;")
            zf.writestr("filestore/../../../etc/evil", "x")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "evil.zip")
            with open(path, "wb") as fh:
                fh.write(buf.getvalue())
            conn = {"host": "127.0.0.1", "port": 1, "user": "nobody"}
            with self.assertRaisesRegex(backup_store.BackupError, "outside the filestore"):
                backup_store.import_zip(conn, "x_never_created", path, os.path.join(tmp, "fs"))
            self.assertFalse(os.path.exists(os.path.join(tmp, "fs")))
            with self.assertRaisesRegex(ValueError, "Invalid"):
                backup_store.import_zip(conn, "x; DROP DATABASE postgres", path, os.path.join(tmp, "fs"))

"""The backend in a real browser (Odoo's tours in Chromium): buttons and
tabs follow the stage matrix (hidden, not only refused), the Logs tab reads
line by line. A JavaScript console error fails a tour."""

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from unittest.mock import patch

import docker
from odoo.addons.bus.models.bus import dispatch, hashable
from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.sql_db import TestCursor
from odoo.tests import tagged

from ..executors import paths
from .common import OpsHttpCase, addon_repository

LOG = (
    "2026-12-03 08:00:01,123 7 INFO shop odoo.modules.loading: Modules loaded.\n"
    "2026-12-03 08:00:02,123 7 INFO shop odoo.addons.account.models.account_move: Invoice INV/2026/0001 posted\n"
    "2026-12-03 08:00:03,123 7 ERROR shop odoo.http: Exception during request handling.\n"
    "Traceback (most recent call last):\n"
)


@contextmanager
def live_bus():
    """Odoo's bus for real in a browser test: the browser's websocket and
    the notifications the run methods send. Odoo turns two things off in
    tests, turned back on here: websockets, and the wake-up of the
    subscribed websockets when a transaction commits (PostgreSQL's NOTIFY
    imbus in production; in tests no transaction really commits)."""
    real_commit = TestCursor.commit

    def commit(cr):
        channels = list(cr.postcommit.data.get("bus.bus.channels", ()))
        real_commit(cr)
        for channel in channels:
            for websocket in list(dispatch._channels_to_ws.get(hashable(channel), ())):
                websocket.trigger_notification_dispatching()

    with patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True), \
            patch.object(TestCursor, "commit", commit):
        yield


@tagged("post_install", "-at_install", "ipai_ops", "is_tour")
class TestBackendTours(OpsHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tempfile.mkdtemp(prefix="ipai-ops-tours-")
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        # sudo: test setup, the platform's own settings
        cls.env["ir.config_parameter"].sudo().set_param("ipai_ops.data_root", cls.root)
        cls.env["ir.config_parameter"].sudo().set_param("ipai_ops.artifact_root", os.path.join(cls.root, "artifacts"))
        # Running, as a finished build leaves them (the runtime fields are written by runs: sudo here).
        for env in (cls.env_dev, cls.env_prod):
            env.sudo().write({"state": "running", "url": "http://127.0.0.1:9", "database_name": "tours_%d" % env.id,
                              "container_id": "%064x" % env.id})
        live, _store = paths.log_dirs(os.path.join(cls.root, "filestore"), cls.project.slug, cls.env_dev.id)
        os.makedirs(live)
        with open(os.path.join(live, "odoo.log"), "w") as handle:
            handle.write(LOG)

    def form_url(self, env):
        return "/odoo/action-ipai_ops_core.action_ops_environment/%d" % env.id

    def test_a_developer_on_production_sees_nothing_it_may_not_use(self):
        self.start_tour(self.form_url(self.env_prod), "ipai_ops_developer_on_production", login="t_developer")

    def test_an_admin_on_production_has_the_buttons(self):
        self.start_tour(self.form_url(self.env_prod), "ipai_ops_admin_on_production", login="t_admin")

    def test_the_log_reads_line_by_line_and_filters(self):
        self.start_tour(self.form_url(self.env_dev), "ipai_ops_logs_line_by_line", login="t_developer")

    def test_an_ops_user_lands_in_ops(self):
        self.start_tour("/odoo", "ipai_ops_lands_in_ops", login="t_viewer")

    def test_the_overview_says_what_needs_me(self):
        # sudo: test setup, the project's settings
        self.project.sudo().production_approval = True
        self.Run.with_user(self.users["admin"]).queue_run({"project_id": self.project.id, "kind": "deploy",
                                                          "environment_id": self.env_prod.id})
        for env in (self.env_staging, self.env_dev):
            self.Run.with_user(self.manager).queue_run({"project_id": self.project.id, "kind": "build",
                                                        "environment_id": env.id})
        Worker = self.Run.with_user(self.worker)
        run = Worker.browse(Worker.claim_next_run("w1", ["build"])["id"])
        self.assertEqual(run.environment_id, self.env_staging)
        run.start_workflow_run("w1")
        run.complete_workflow_run(1, "ImportError: cannot import name 'ustr' (shop_sale/models.py:3)", "w1", "failed")
        self.start_tour("/odoo/action-ipai_ops_core.action_ops_overview", "ipai_ops_overview", login="t_admin")

    def test_an_odoo_page_as_the_baseline_of_the_times(self):
        self.start_tour("/odoo/action-base.action_partner_form", "ipai_ops_baseline_odoo_page", login="t_manager")

    def test_a_run_is_followed_live(self):
        run = self.Run.with_user(self.manager).queue_run({"project_id": self.project.id, "kind": "build",
                                                          "environment_id": self.env_dev.id})
        with live_bus():
            self.start_tour("/odoo/action-ipai_ops_core.action_ops_run/%d" % run["id"], "ipai_ops_run_followed_live",
                            login="t_manager")
        self.assertEqual(self.Run.browse(run["id"]).state, "failed")

    def test_a_production_deploy_is_approved_from_its_card(self):
        # sudo: test setup, the project's settings
        self.project.sudo().write({"production_approval": True, "repo_url": addon_repository(
            self, message="Stock: picking rules")})
        run = self.Run.with_user(self.users["admin"]).queue_run({"project_id": self.project.id, "kind": "deploy",
                                                                 "environment_id": self.env_prod.id})
        self.assertEqual(run["state"], "waiting_approval")
        with live_bus():
            self.start_tour("/odoo/action-ipai_ops_core.action_ops_environment", "ipai_ops_approve_from_the_card",
                            login="t_admin")
        self.assertEqual(self.Run.browse(run["id"]).state, "canceled")
        self.assertEqual(self.Run.browse(run["id"]).approved_by_id, self.users["admin"])

    def shell_on(self, env, login, tour):
        """A real container (the runtime image, no network) stands for the
        environment's; the tour opens the web terminal on it through the
        control plane's websocket, as a person does."""
        client = docker.from_env()
        container = client.containers.run("ipai-ops/odoo:18.0", ["sleep", "600"], entrypoint="", detach=True,
                                          network_mode="none", labels={"ipai-ops.test": "tours"})
        self.addCleanup(container.remove, force=True)
        env.sudo().container_id = container.id  # sudo: a runtime field, written by runs only
        self.start_tour(self.form_url(env), tour, login=login)
        shells = self.Run.search([("environment_id", "=", env.id), ("kind", "=", "shell")])
        self.assertEqual(len(shells), 2, "a session, and a new one after Reconnect")
        deadline = time.monotonic() + 20
        while shells.filtered(lambda r: r.state == "running") and time.monotonic() < deadline:
            time.sleep(0.2)  # the relay records its end in a transaction of its own once bash has exited
            shells.invalidate_recordset()
        self.assertEqual(set(shells.mapped("state")), {"succeeded"}, "both sessions ended by `exit`")

    def test_a_shell_on_development(self):
        self.shell_on(self.env_dev, "t_developer", "ipai_ops_shell_on_development")

    def test_a_shell_on_production_is_red(self):
        self.shell_on(self.env_prod, "t_admin", "ipai_ops_shell_on_production")

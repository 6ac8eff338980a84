import base64
import json
import logging
import os
import shutil
import subprocess
import tempfile
import unittest
from unittest.mock import patch

from odoo import Command
from odoo.service import server as odoo_server
from odoo.tests.common import ChromeBrowser, HttpCase, TransactionCase, new_test_user

_logger = logging.getLogger(__name__)
# A directory: the tours' screenshots are written there (scripts/screenshots.sh, for the README).
SCREENSHOTS = os.environ.get("OPS_SCREENSHOTS")
SCREENSHOT, INTERACTIVE = "ipai-ops-screenshot:", "ipai-ops-interactive:"
_handle_console = ChromeBrowser._handle_console


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout.strip()


def write(repo, path, text):
    os.makedirs(os.path.dirname(os.path.join(repo, path)), exist_ok=True)
    with open(os.path.join(repo, path), "w") as handle:
        handle.write(text)


def addon_repository(case, addons=("shop_sale", "shop_stock"), message="First release"):
    """A real git repository (under /srv, a root the tests' host allows) with
    one commit by Ana Integrator holding ``addons``; removed after the test.
    Returns its path."""
    repo = tempfile.mkdtemp(prefix="ipai-ops-repo-", dir="/srv")
    case.addCleanup(shutil.rmtree, repo, True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ana@example.com")
    git(repo, "config", "user.name", "Ana Integrator")
    for addon in addons:
        write(repo, "%s/__manifest__.py" % addon, "{'name': '%s', 'version': '18.0.1.0.0'}\n" % addon)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return repo


class OpsSetup:
    """A project with one user per role (login = password = t_<role>), a
    non-member, a worker and a manager; development, staging and production
    environments."""

    @classmethod
    def _ops_setup(cls):
        # Local repository paths are allowed under the roots Ops Managers set on the hosts.
        cls.env.ref("ipai_ops_core.ops_host_local").repo_roots = "/srv"
        cls.manager = new_test_user(cls.env, "t_manager", groups="base.group_user,ipai_ops_core.group_ops_manager")
        cls.worker = new_test_user(cls.env, "t_worker", groups="base.group_user,ipai_ops_core.group_ops_worker")
        users = {}
        for role in ("owner", "admin", "tester", "developer", "viewer", "outsider"):
            users[role] = new_test_user(cls.env, "t_%s" % role, groups="base.group_user,ipai_ops_core.group_ops_user")
        cls.users = users
        cls.project = cls.env["ops.project"].with_user(cls.manager).create({
            "name": "Test Shop", "slug": "test-shop", "repo_url": "/srv/git/test-shop.git",
            "member_ids": [Command.create({"user_id": users[r].id, "role": r})
                           for r in ("owner", "admin", "tester", "developer", "viewer")],
        }).sudo(False)
        Env = cls.env["ops.environment"].with_user(cls.manager)
        cls.env_prod = Env.create({"project_id": cls.project.id, "branch": "main"})
        cls.env_staging = Env.create({"project_id": cls.project.id, "branch": "release/1.0"})
        cls.env_dev = Env.create({"project_id": cls.project.id, "branch": "feature/x"})
        cls.Run = cls.env["ops.run"]
        # The demo data's unfinished runs would take part in the queue tests.
        cls.Run.search([("state", "in", ("waiting_approval", "queued", "claimed", "running"))]).cancel_run(
            "set aside by the tests")


class OpsHttpCase(OpsSetup, HttpCase):
    """OpsSetup for browser tests (Odoo's tours, in Chromium). The tours
    report how long each page took to be usable (measured, not asserted:
    logged, and written beside the screenshots) and, with OPS_SCREENSHOTS
    set, take the README's screenshots (static/tests/tours: ``screenshot``)."""

    interactive = {}  # page: milliseconds until its first step could act, for every tour of the run

    @classmethod
    def setUpClass(cls):
        if odoo_server.server is None:
            raise unittest.SkipTest("browser tours need Odoo's HTTP server: odoo-bin --test-enable runs them "
                                    "(make test does), pytest does not start it")
        super().setUpClass()
        cls._ops_setup()
        patcher = patch.object(ChromeBrowser, "_handle_console", _console)
        patcher.start()
        cls.addClassCleanup(patcher.stop)

    def start_tour(self, url_path, tour_name, step_delay=None, **kwargs):
        if SCREENSHOTS:  # the tour waits for each screenshot to be taken
            kwargs["cookies"] = dict(kwargs.get("cookies") or {}, ipai_ops_screenshots="1")
        return super().start_tour(url_path, tour_name, step_delay=step_delay, **kwargs)


def _console(browser, type, args=None, stackTrace=None, **kw):  # noqa: A002 - Odoo's signature
    """The tours' two messages to the test (a screenshot to take, a page's
    time to interactive); every other console message goes to Odoo's handler."""
    text = browser._from_remoteobject(args[0]) if args else ""
    if isinstance(text, str) and text.startswith(SCREENSHOT):
        name = text[len(SCREENSHOT):]
        if SCREENSHOTS and name.replace("-", "").isalnum():
            future = browser._websocket_send("Page.captureScreenshot", with_future=True)
            future.add_done_callback(lambda done: _save_png(name, done))
        return None
    if isinstance(text, str) and text.startswith(INTERACTIVE):
        page, _sep, milliseconds = text[len(INTERACTIVE):].rpartition(":")
        OpsHttpCase.interactive[page] = int(milliseconds)
        _logger.info("interactive in %s ms: %s", milliseconds, page)
        if SCREENSHOTS:
            os.makedirs(SCREENSHOTS, exist_ok=True)
            with open(os.path.join(SCREENSHOTS, "interactive.json"), "w") as handle:
                json.dump(OpsHttpCase.interactive, handle, indent=1, sort_keys=True)
        return None
    return _handle_console(browser, type, args=args, stackTrace=stackTrace, **kw)


def _save_png(name, done):
    try:
        data = base64.b64decode(done.result(timeout=0)["data"], validate=True)
    except Exception:  # noqa: BLE001 - a screenshot missing is said, the tour goes on
        _logger.warning("screenshot %s could not be taken", name, exc_info=True)
        return
    os.makedirs(SCREENSHOTS, exist_ok=True)
    with open(os.path.join(SCREENSHOTS, "%s.png" % name), "wb") as handle:
        handle.write(data)


class OpsCase(OpsSetup, TransactionCase):
    """OpsSetup with the registry in Odoo's test mode (as HttpCase puts it):
    the cursors the platform opens for itself (a worker's claim, an
    executor's progress) are savepoints of the test's transaction, so the
    code under test takes its real path and everything is still rolled back."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry.enter_test_mode(cls.cr)
        cls.addClassCleanup(cls.registry.leave_test_mode)
        cls._ops_setup()

    def queue(self, user=None, **values):
        values.setdefault("project_id", self.project.id)
        values.setdefault("kind", "build")
        return self.Run.with_user(user or self.manager).queue_run(values)

    def as_worker(self, record=None):
        return (record or self.Run).with_user(self.worker)

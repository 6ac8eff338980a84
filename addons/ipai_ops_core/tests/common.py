import os
import shutil
import subprocess
import tempfile
import unittest

from odoo import Command
from odoo.service import server as odoo_server
from odoo.tests.common import HttpCase, TransactionCase, new_test_user


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
    """OpsSetup for browser tests (Odoo's tours, in Chromium)."""

    @classmethod
    def setUpClass(cls):
        if odoo_server.server is None:
            raise unittest.SkipTest("browser tours need Odoo's HTTP server: odoo-bin --test-enable runs them "
                                    "(make test does), pytest does not start it")
        super().setUpClass()
        cls._ops_setup()


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

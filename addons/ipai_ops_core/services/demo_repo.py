"""The demo projects' git repositories: real ones, made with git (argument
lists only) under the platform's demo directory, so the demo's runs build
for real. Plain values in and out."""

import os
import shutil
import subprocess

MARKER = "ipai-ops-demo-v2"  # in the bare repository: made by this version of the demo
GIT = ["git", "-c", "user.name=ipai ops demo", "-c", "user.email=demo@example.com", "-c", "init.defaultBranch=main"]

TEST_OK = ("from odoo.tests import TransactionCase\n\n\n"
           "class TestPartner(TransactionCase):\n"
           "    def test_partner(self):\n"
           "        self.assertEqual(self.env.ref('{module}.partner').name, '{name}')\n")


def _addon(name, title, partner):
    return {
        "__init__.py": "",
        "__manifest__.py": repr({"name": title, "version": "18.0.1.0.0", "depends": ["base"], "license": "LGPL-3",
                                 "data": ["data/partner.xml"]}),
        "data/partner.xml": '<odoo><record id="partner" model="res.partner"><field name="name">%s</field>'
                            '</record></odoo>' % partner,
        "tests/__init__.py": "from . import test_partner\n",
        "tests/test_partner.py": TEST_OK.format(module=name, name=partner),
    }


def _write(work, files):
    for rel, text in files.items():
        path = os.path.join(work, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)


def _git(*args):
    return subprocess.run(GIT + list(args), check=True, capture_output=True, text=True).stdout.strip()


def make(root, slug, module, title, partner, branches, default_branch="main", failing_branches=()):
    """A bare repository ``<root>/<slug>.git`` with one addon on
    ``default_branch``, each of ``branches`` pointing at it, and each of
    ``failing_branches`` one commit further where the addon's test fails
    (a red build, for real). Made once; returns the bare repository's path."""
    bare = os.path.realpath(os.path.join(root, "%s.git" % slug))
    if os.path.exists(os.path.join(bare, MARKER)):
        return bare
    # Absent, or made by an older version of the demo: made again.
    work = bare[:-4] + "-work"
    for path in (bare, work):
        shutil.rmtree(path, ignore_errors=True)
    files = {"%s/%s" % (module, rel): text for rel, text in _addon(module, title, partner).items()}
    _write(work, files)
    _git("init", "-q", "-b", default_branch, work)
    _git("-C", work, "add", "-A")
    _git("-C", work, "commit", "-qm", title)
    for branch in branches:
        if branch != default_branch and branch not in failing_branches:
            _git("-C", work, "branch", "--", branch)
    for branch in failing_branches:
        _git("-C", work, "checkout", "-q", "-b", branch, default_branch)
        _write(work, {"%s/tests/test_partner.py" % module: TEST_OK.format(module=module, name=partner + " Ltd")})
        _git("-C", work, "commit", "-qam", "Rename the partner (the test still expects the old name)")
        _git("-C", work, "checkout", "-q", default_branch)
    _git("clone", "-q", "--bare", "--", work, bare)
    with open(os.path.join(bare, MARKER), "w") as fh:
        fh.write("made by ipai ops' demo data\n")
    return bare

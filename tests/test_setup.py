"""The setup script's promises that can be checked without a fresh machine."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_missing_odoo_source_gives_one_clear_message(tmp_path):
    env = dict(os.environ, ODOO_SRC=str(tmp_path / "no-odoo"), ODOO_GIT_URL="file://%s/no-repo.git" % tmp_path)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "Odoo 18.0 source not found" in proc.stderr
    assert str(tmp_path / "no-odoo") in proc.stderr and "ODOO_SRC" in proc.stderr
    assert not (tmp_path / "no-odoo").exists(), "a failed clone leaves nothing behind"


def test_a_local_clone_is_used_when_odoo_is_missing(tmp_path):
    """Where the upstream is reachable, setup makes a shallow clone of branch 18.0."""
    upstream = tmp_path / "odoo-upstream"
    subprocess.run(["git", "init", "-q", "-b", "18.0", str(upstream)], check=True)
    (upstream / "odoo").mkdir()
    (upstream / "odoo" / "release.py").write_text("version_info = (17, 0, 0, 'final', 0, '')\n")
    (upstream / "odoo-bin").write_text("#!/bin/sh\n")
    (upstream / "odoo-bin").chmod(0o755)
    subprocess.run(["git", "-C", str(upstream), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(upstream), "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"],
                   check=True)
    target = tmp_path / "odoo-src"
    env = dict(os.environ, ODOO_SRC=str(target), ODOO_GIT_URL="file://%s" % upstream)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    # The clone happened (shallow, branch 18.0) and the version check caught the fake 17.0 tree.
    assert (target / "odoo-bin").exists()
    assert subprocess.run(["git", "-C", str(target), "rev-parse", "--is-shallow-repository"], capture_output=True,
                          text=True).stdout.strip() == "true"
    assert proc.returncode == 1 and "is not an Odoo 18.0 tree" in proc.stderr

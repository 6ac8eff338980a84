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


def _upstream(tmp_path, series):
    upstream = tmp_path / "odoo-upstream"
    subprocess.run(["git", "init", "-q", "-b", "18.0", str(upstream)], check=True)
    (upstream / "odoo").mkdir()
    (upstream / "odoo" / "release.py").write_text("version_info = (%d, 0, 0, 'final', 0, '')\n" % series)
    (upstream / "odoo-bin").write_text("#!/bin/sh\n")
    (upstream / "odoo-bin").chmod(0o755)
    subprocess.run(["git", "-C", str(upstream), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(upstream), "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"],
                   check=True)
    return upstream


def test_a_local_clone_is_used_when_odoo_is_missing(tmp_path):
    """Where the upstream is reachable, setup makes a shallow clone of branch
    18.0, checks it is 18.0 before using it, and records the commit it got."""
    upstream = _upstream(tmp_path, 17)
    target = tmp_path / "odoo-src"
    env = dict(os.environ, ODOO_SRC=str(target), ODOO_GIT_URL="file://%s" % upstream)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    # The clone happened (branch 18.0) and the version check refused the fake 17.0 tree before using it.
    assert proc.returncode == 1 and "the tree is not Odoo 18.0" in proc.stderr, proc.stderr
    assert not target.exists() and not list(tmp_path.glob("odoo-src.partial*"))
    # A real 18.0 branch is taken, with where it came from (the runtime image's labels).
    (upstream / "odoo" / "release.py").write_text("version_info = (18, 0, 0, 'final', 0, '')\n")
    subprocess.run(["git", "-C", str(upstream), "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "y"],
                   check=True)
    head = subprocess.run(["git", "-C", str(upstream), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    proc = subprocess.run(["bash", str(REPO / "scripts" / "odoo-source.sh"), "18.0"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (target / "odoo-bin").exists() and not (target / ".git").exists()
    assert (target / ".ipai-ops-source").read_text() == "repository=file://%s\ncommit=%s\n" % (upstream, head)


def test_a_version_tree_from_a_local_copy_at_an_exact_commit(tmp_path):
    """Air-gapped: scripts/odoo-source.sh VERSION GIT_DIR COMMIT exports exactly that commit."""
    upstream = _upstream(tmp_path, 19)
    head = subprocess.run(["git", "-C", str(upstream), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    env = dict(os.environ, ODOO_SRC=str(tmp_path / "odoo-18.0"), OPS_ODOO_SOURCES=str(tmp_path))
    proc = subprocess.run(["bash", str(REPO / "scripts" / "odoo-source.sh"), "19.0", str(upstream), head], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "odoo-19.0" / "odoo-bin").exists()
    assert "commit=%s" % head in (tmp_path / "odoo-19.0" / ".ipai-ops-source").read_text()
    proc = subprocess.run(["bash", str(REPO / "scripts" / "odoo-source.sh"), "19.0", str(upstream), "HEAD"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "full 40-character sha" in proc.stderr
    proc = subprocess.run(["bash", str(REPO / "scripts" / "odoo-source.sh"), "16.0"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "unsupported Odoo version 16.0" in proc.stderr


def test_each_installation_gets_its_own_master_password_never_the_repository_s(tmp_path):
    """scripts/odoo-conf.sh (setup runs it): a random master password made
    once, root only; $OPS_CONF from the repository's template with its hash
    and the database manager off."""
    from passlib.context import CryptContext

    venv = os.environ.get("OPS_VENV", "/opt/ipai-ops/venv")
    conf = tmp_path / "conf" / "odoo.conf"

    def write(home):
        env = dict(os.environ, OPS_HOME=str(home), OPS_VENV=venv, OPS_CONF=str(conf))
        proc = subprocess.run(["bash", str(REPO / "scripts" / "odoo-conf.sh")], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return (home / "secrets" / "master-password").read_text().strip()

    password = write(tmp_path / "one")
    secrets_dir = tmp_path / "one" / "secrets"
    assert (secrets_dir.stat().st_mode & 0o777, (secrets_dir / "master-password").stat().st_mode & 0o777) == (
        0o700, 0o600)
    assert conf.stat().st_mode & 0o777 == 0o600
    text = conf.read_text()
    options = [line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith(";")]
    options = {name.strip(): value.strip() for name, value in options}
    assert options["list_db"] == "False"
    assert password not in text and "ipai-ops-local-admin" not in text
    assert options["admin_passwd"].startswith("$pbkdf2-sha512$")
    assert CryptContext(schemes=["pbkdf2_sha512"]).verify(password, options["admin_passwd"])
    assert not CryptContext(schemes=["pbkdf2_sha512"]).verify("admin", options["admin_passwd"])
    assert options["data_dir"] == "${OPS_HOME}/data", "the rest of the template is kept"
    template = [line.strip() for line in (REPO / "odoo.conf").read_text().splitlines()
                if not line.lstrip().startswith(";")]
    assert "list_db = False" in template and not [line for line in template if line.startswith("admin_passwd")]
    # Kept on the next run (a new hash of the same password); another installation gets another one.
    assert write(tmp_path / "one") == password
    assert write(tmp_path / "two") != password
    assert len(password) >= 32

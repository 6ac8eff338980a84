"""ruff (with its complexity rule), pylint-odoo (OCA's Odoo checks,
.pylintrc) and OCA's checks of the XML, CSV and PO files clean, as the
project's conventions ask: `make lint` runs them all."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADDONS = ["addons/ipai_ops_core", "addons/ipai_ops_backup", "addons/ipai_ops_monitoring"]


def test_ruff_clean():
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "addons", "tests", "ipai_ops_cli", "bench"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pylint_odoo_clean():
    pylint = Path(os.environ.get("OPS_LINT_VENV", "/opt/ipai-ops/lint-venv")) / "bin" / "pylint"
    assert pylint.exists(), "pylint-odoo is not installed: scripts/setup.sh installs it into OPS_LINT_VENV"
    proc = subprocess.run([str(pylint), "--rcfile=.pylintrc", *ADDONS], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_oca_module_checks_clean():
    """XML headers, ids and attribute order, numbers through eval, demo users, CSV and PO files
    (oca-odoo-pre-commit-hooks, what OCA's pre-commit runs)."""
    bin_dir = Path(os.environ.get("OPS_LINT_VENV", "/opt/ipai-ops/lint-venv")) / "bin"
    assert (bin_dir / "oca-checks-odoo-module").exists(), \
        "OCA's module checks are not installed: scripts/setup.sh installs them into OPS_LINT_VENV"
    for command in ([str(bin_dir / "oca-checks-odoo-module"), *ADDONS],
                    [str(bin_dir / "oca-checks-po"), *sorted(str(p.relative_to(REPO))
                                                             for p in REPO.glob("addons/*/i18n/*.po*"))]):
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_addon_readmes_are_made_from_their_fragments():
    proc = subprocess.run([sys.executable, "scripts/addon-readme.py", "--check"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr

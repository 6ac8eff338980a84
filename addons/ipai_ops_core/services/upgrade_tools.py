"""The tools that rewrite a customer's addons for the next Odoo version, and
the facts they rely on: Odoo's own ``upgrade_code`` (run in the target
version's runtime image, one addon at a time), the OCA's
odoo-module-migrator (17.0 to 18.0; it stops there), OpenUpgrade's apriori
(modules merged or renamed) and a package index (OCA releases).
Plain values in and out; commands are argument lists."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from . import code_scan

CONTAINER_ADDONS = "/mnt/extra-addons"
# odoo-module-migrator knows these steps (0.5.0 stops at 18.0)
MIGRATOR_STEPS = {("17.0", "18.0")}
APRIORI = "odoo/addons/openupgrade_scripts/apriori.py"


def upgrade_code(engine, image, tree, addon, from_version, name, labels, uid):
    """Run the target image's ``odoo-bin upgrade_code`` over ``addon`` only
    (``--glob``: unlimited, it walks and would rewrite Odoo's own addons).
    Returns (changed: bool, output lines). RuntimeError when the tool fails."""
    code, lines = engine.run_to_completion(
        image, ["upgrade_code", "--addons-path", CONTAINER_ADDONS, "--from", from_version,
                "--glob", "%s/**/*" % addon],
        name, labels, volumes={tree: {"bind": CONTAINER_ADDONS, "mode": "rw"}}, network_mode="none",
        user="%d:%d" % (uid, uid), timeout=600)
    # upgrade_code exits 1 when it rewrote files, 0 when it had nothing to do
    if code not in (0, 1):
        raise RuntimeError("upgrade_code failed on %s (exit code %d): %s" % (addon, code, " / ".join(lines[-3:])))
    return code == 1, lines


def module_migrator(tree, addon, from_version, to_version, timeout=600):
    """Run odoo-module-migrator on ``addon`` (no commit, no pre-commit; its
    ``migrations`` folder kept). Returns its messages [(level, text)], or
    None when it has no step for these versions."""
    if (from_version, to_version) not in MIGRATOR_STEPS:
        return None
    proc = subprocess.run(
        [sys.executable, "-m", "odoo_module_migrate", "--directory", tree, "--modules", addon,
         "--init-version-name", from_version, "--target-version-name", to_version, "--no-commit",
         "--no-pre-commit", "--no-remove-migration-folder", "--log-level", "INFO"],
        capture_output=True, text=True, timeout=timeout, cwd=tree, stdin=subprocess.DEVNULL)
    messages = []
    for line in (proc.stdout + proc.stderr).splitlines():
        for level in ("ERROR", "WARNING"):
            if level in line:
                messages.append((level.lower(), line.split(level, 1)[1].strip(" :-")[:500]))
                break
    if proc.returncode != 0 and not messages:
        messages.append(("error", "odoo-module-migrator failed (exit code %d): %s" % (
            proc.returncode, (proc.stderr.strip().splitlines() or ["no message"])[-1])))
    return messages


def apriori(wheel_path):
    """OpenUpgrade's renamed and merged modules for the target version, read
    from its scripts wheel ({} when the wheel is not there)."""
    if not wheel_path or not os.path.isfile(wheel_path):
        return {}
    with zipfile.ZipFile(wheel_path) as wheel:
        try:
            source = wheel.read(APRIORI).decode("utf-8")
        except KeyError:
            return {}
    return code_scan.read_apriori(source)


def core_modules(engine, image, name, labels):
    """The modules the runtime image ships (its addons directories)."""
    code, lines = engine.run_to_completion(
        image, ["/opt/odoo/addons", "/opt/odoo/odoo/addons"], name, labels, network_mode="none",
        entrypoint=["ls", "-1"], timeout=120)
    if code != 0:
        raise RuntimeError("cannot list the modules of %s: %s" % (image, " / ".join(lines[-2:])))
    return {line.strip() for line in lines if line.strip() and not line.endswith(":") and "/" not in line}


def series_release(index_url, module, series, timeout=10):
    """The newest release of the OCA package of ``module`` for ``series``
    (odoo-addon-<module> on a PyPI-compatible JSON index), None when it has
    none, or 'error: ...' when the index cannot say."""
    package = "odoo-addon-%s" % module.replace("_", "-")
    url = "%s/%s/json" % (index_url.rstrip("/"), urllib.parse.quote(package))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = json.loads(response.read(4 * 1024 * 1024).decode("utf-8"))
    except urllib.error.HTTPError as exc:
        return None if exc.code == 404 else "error: HTTP %d from %s" % (exc.code, index_url)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return "error: %s" % (getattr(exc, "reason", None) or exc)
    releases = sorted((v for v in (data.get("releases") or {}) if v.startswith(series + ".")),
                      key=lambda v: [int(p) if p.isdigit() else 0 for p in v.split(".")])
    return releases[-1] if releases else None

"""The tools that rewrite a customer's addons for the next Odoo version, and
the facts they rely on: Odoo's own ``upgrade_code`` (run in the target
version's runtime image, one addon at a time), the OCA's
odoo-module-migrator (17.0 to 18.0; it stops there), OpenUpgrade's apriori
(modules merged or renamed) and a package index (OCA releases).
Plain values in and out; commands are argument lists."""

import json
import os
import re
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


# Runs in the target's image: Odoo's own upgrade_code (odoo/cli/upgrade_code.py,
# its migrate()) over one addon at a time (--glob <addon>/**/*), with only the
# project's tree as addons path: Odoo's own addons are never walked nor
# rewritten (unlimited, it does both: 45 s against under 2 s per addon). One
# process for all the addons; a line of JSON per addon. Fixed code: addon
# names arrive as arguments, never in the source.
UPGRADE_CODE_DRIVER = """
import json, sys, time
sys.path.insert(0, "/opt/odoo")
from odoo import release
from odoo.cli.upgrade_code import migrate
from odoo.tools import parse_version
root, start, target = sys.argv[1], parse_version(sys.argv[2]), parse_version(release.version)
for addon in sys.argv[3:]:
    began = time.monotonic()
    try:
        changed = migrate([root], addon + "/**/*", start, target)
        result = {"addon": addon, "changed": bool(changed)}
    except Exception as exc:
        result = {"addon": addon, "error": "%s: %s" % (type(exc).__name__, exc)}
    result["seconds"] = round(time.monotonic() - began, 3)
    print("IPAI-UPGRADE-CODE " + json.dumps(result), flush=True)
"""
MARK = "IPAI-UPGRADE-CODE "


def upgrade_code(engine, image, tree, addons, from_version, name, labels, uid):
    """Odoo's upgrade_code of the target ``image`` over each of ``addons``
    in ``tree``, from ``from_version`` to the image's version. Returns
    {addon: {changed, seconds} or {error}}; RuntimeError when the run fails."""
    marks = []  # (every one: the engine gives back only the last lines, and Odoo's log may say many)
    code, lines = engine.run_to_completion(
        image, [CONTAINER_ADDONS, from_version, *addons], name, labels,
        volumes={tree: {"bind": CONTAINER_ADDONS, "mode": "rw"}}, network="none",
        user="%d:%d" % (uid, uid), entrypoint=["python3", "-c", UPGRADE_CODE_DRIVER], timeout=1800,
        on_line=lambda line: marks.append(line) if line.startswith(MARK) else None)
    results = {}
    for line in marks:
        if line.startswith(MARK):
            try:
                item = json.loads(line[len(MARK):])
            except ValueError:
                continue
            results[item.pop("addon")] = item
    missing = [addon for addon in addons if addon not in results]
    if code != 0 or missing:
        raise RuntimeError("upgrade_code stopped (exit code %d) before %s: %s" % (
            code, ", ".join(missing) or "its end", " / ".join(lines[-3:])))
    return results


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def module_migrator(tree, addons, from_version, to_version, timeout=1800):
    """odoo-module-migrator over ``addons`` (no commit, no pre-commit, their
    ``migrations`` folders kept), in one process. Returns its warnings and
    errors [{addon, file, level, text}], or None when it has no step for
    these versions."""
    if (from_version, to_version) not in MIGRATOR_STEPS:
        return None
    proc = subprocess.run(
        [sys.executable, "-m", "odoo_module_migrate", "--directory", tree, "--modules", ",".join(addons),
         "--init-version-name", from_version, "--target-version-name", to_version, "--no-commit",
         "--no-pre-commit", "--no-remove-migration-folder", "--log-level", "INFO"],
        capture_output=True, text=True, timeout=timeout, cwd=tree, stdin=subprocess.DEVNULL)
    messages, addon = [], None
    for raw in (proc.stdout + proc.stderr).splitlines():
        line = ANSI.sub("", raw).strip()
        started = re.search(r"\[([\w.]+)\] Running migration", line)
        if started:
            addon = started.group(1)
            continue
        if line.startswith("File ") and messages:
            path = line[5:].strip()
            messages[-1]["file"] = os.path.relpath(path, tree) if os.path.isabs(path) else path
            continue
        level = re.search(r"\b(ERROR|WARNING)\b\s+(.*)", line)
        if level:
            messages.append({"addon": addon, "file": None, "level": level.group(1).lower(),
                             "text": level.group(2).strip()[:500]})
    if proc.returncode != 0 and not messages:
        messages.append({"addon": addon, "file": None, "level": "error", "text": "odoo-module-migrator failed "
                         "(exit code %d): %s" % (proc.returncode, (proc.stderr.strip().splitlines() or ["-"])[-1])})
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


SCRIPTS_PREFIX = "odoo/addons/openupgrade_scripts/scripts/"
SCRIPT_FILES = ("pre-migration", "post-migration", "end-migration", "pre-migrate", "post-migrate", "noupdate_changes",
                "upgrade_analysis_work")
# What OpenUpgrade's scripts package says of a module for one version, read from its files the way its
# coverage page is kept: a reviewed analysis or scripts (done), an analysis nobody reviewed (not covered),
# no analysis at all (the version changed nothing of it that needs a migration).
COVERAGE = {"done": "done", "todo": "not covered", "none": "nothing to do"}


def coverage(wheel_path, to_version):
    """{module: "done" | "not covered"} of the Odoo modules the scripts
    wheel of ``to_version`` has an analysis for; a module it has none for
    has nothing to do. None when the wheel is not there."""
    if not wheel_path or not os.path.isfile(wheel_path):
        return None
    found = {}
    with zipfile.ZipFile(wheel_path) as wheel:
        for name in wheel.namelist():
            if not name.startswith(SCRIPTS_PREFIX):
                continue
            parts = name[len(SCRIPTS_PREFIX):].split("/")
            if len(parts) != 3 or not parts[1].startswith(to_version + "."):
                continue
            module, filename = parts[0], parts[2]
            done = filename.startswith(SCRIPT_FILES)
            found[module] = COVERAGE["done"] if done or found.get(module) == COVERAGE["done"] else COVERAGE["todo"]
    return found


# Every module an image's Odoo can load from these paths: its own addons, the code's, and the addons pip put in
# site-packages (odoo.addons is a namespace package: they are on its __path__ once odoo is imported).
_LIST_MODULES = """
import os, sys
sys.path.insert(0, "/opt/odoo")
import odoo.addons
seen = set()
for root in sys.argv[1:] + list(odoo.addons.__path__):
    if os.path.isdir(root):
        for name in os.listdir(root):
            if os.path.isfile(os.path.join(root, name, "__manifest__.py")):
                seen.add(name)
print("MODULES " + " ".join(sorted(seen)))
"""


def available_modules(engine, image, paths, name, labels):
    """The modules Odoo in ``image`` finds on ``paths`` and in site-packages."""
    code, lines = engine.run_to_completion(image, ["-c", _LIST_MODULES, *paths], name, labels, network="none",
                                           entrypoint=["python3"], timeout=120)
    found = [line for line in lines if line.startswith("MODULES ")]
    if code != 0 or not found:
        raise RuntimeError("cannot list the modules of %s: %s" % (image, " / ".join(lines[-2:])))
    return set(found[-1].split()[1:])


def core_modules(engine, image, name, labels):
    """The modules the runtime image ships (its addons directories: every
    line of the listing, which is longer than the last lines the engine
    gives back: Odoo 18.0 ships over 600 modules)."""
    lines = []
    code, tail = engine.run_to_completion(
        image, ["/opt/odoo/addons", "/opt/odoo/odoo/addons"], name, labels, network="none",
        entrypoint=["ls", "-1"], timeout=120, on_line=lines.append)
    if code != 0:
        raise RuntimeError("cannot list the modules of %s: %s" % (image, " / ".join(tail[-2:])))
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

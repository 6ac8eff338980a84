"""OpenUpgrade for a preview or an upgrade: its pinned wheels installed
(--no-deps) into a directory of their own, the check that the scripts only
reference records the target's Odoo tree has, and what its run said, module
by module. Plain values; commands are argument lists."""

import hashlib
import os
import re
import subprocess
import sys

from . import odoo_versions

MOUNT = "/mnt/openupgrade"
# odoo-bin's log line: date time pid LEVEL db logger: message
LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ \d+ (\w+) \S+ ([\w.]+): (.*)$")
LOADING_RE = re.compile(r"^Loading module (\w+) \((\d+)/(\d+)\)")
LOADED_RE = re.compile(r"^Module (\w+) loaded in ([\d.]+)s.*?, (\d+) queries")
MIGRATION_RE = re.compile(r"^module (\w+): Running migration \[([^\]]*)\] ([\w-]+)")
# What a noupdate_changes.xml needs to exist: the records it updates and those it refers to.
NEEDED_RE = re.compile(r"""<record\b[^>]*\bid=["']([\w.]+)["']|\bref=["']([\w.]+)["']|\bref\(["']([\w.]+)["']\)""")
# XML ids Odoo makes itself (models, fields, modules, selections), in no data file.
AUTOMATIC_IDS = ("model_", "field_", "module_", "selection__")
DEFINED_ID_RE = re.compile(r"""\bid=["']([\w.]+)["']""")


def wheels(directory, version):
    """({package: wheel path}, [pinned packages missing from ``directory``])."""
    found, missing = {}, []
    for package in odoo_versions.OPENUPGRADE.get(version, {}):
        path = odoo_versions.openupgrade_wheel(directory, version, package)
        if path:
            found[package] = path
        else:
            missing.append("%s==%s" % (package, odoo_versions.OPENUPGRADE[version][package]))
    return found, missing


def prepare_site(directory, version):
    """The pinned wheels of ``version`` installed --no-deps into a directory
    of their own (made once per set of wheels). Returns its path; RuntimeError
    when a wheel is missing or pip fails."""
    found, missing = wheels(directory, version)
    if missing:
        raise RuntimeError("OpenUpgrade's wheels for %s are not in %s: %s (scripts/setup.sh downloads them)" % (
            version, directory, ", ".join(missing)))
    key = hashlib.sha256("\n".join(sorted(found.values())).encode()).hexdigest()[:12]
    site = os.path.join(directory, "site-%s-%s" % (version, key))
    if os.path.isfile(os.path.join(site, ".complete")):
        return site
    partial = site + ".partial.%d" % os.getpid()
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                           "--no-index", "--target", partial, *sorted(found.values())],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError("pip could not install OpenUpgrade's wheels: %s" % (proc.stderr.strip()[-300:]))
    with open(os.path.join(partial, ".complete"), "w") as fh:
        fh.write("\n".join(sorted(found.values())) + "\n")
    try:
        os.rename(partial, site)
    except OSError:  # made meanwhile by another run
        subprocess.run(["rm", "-rf", "--", partial], check=False)
    return site


def scripts_dir(site):
    return os.path.join(site, "odoo", "addons", "openupgrade_scripts", "scripts")


def missing_references(site, source_dir, modules):
    """Records the scripts of ``modules`` load (their noupdate_changes.xml)
    that the target's Odoo tree does not define: [(module, xml id, script
    file)]. Scripts newer than the tree fail on those (base.XCG, payment's)."""
    root = scripts_dir(site)
    missing, defined = [], {}
    for module in sorted(modules):
        module_dir = os.path.join(root, module)
        if not os.path.isdir(module_dir):
            continue
        wanted = []
        for directory, _dirs, files in os.walk(module_dir):
            for name in files:
                if name.startswith("noupdate_changes") and name.endswith(".xml"):
                    path = os.path.join(directory, name)
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        wanted += [(next(g for g in groups if g), path) for groups in NEEDED_RE.findall(fh.read())]
        seen = set()
        for xmlid, path in wanted:
            owner, _sep, name = xmlid.rpartition(".")
            owner = owner or module
            if (owner, name) in seen or name.startswith(AUTOMATIC_IDS):
                continue
            seen.add((owner, name))
            if owner not in defined:
                defined[owner] = _defined_ids(source_dir, owner)
            if name not in defined[owner]:
                missing.append((module, "%s.%s" % (owner, name), os.path.relpath(path, root)))
    return missing


def _defined_ids(source_dir, module):
    """The record ids module ``module`` of the tree defines (its XML ids and CSV first columns)."""
    ids = set()
    for base in (os.path.join(source_dir, "addons", module), os.path.join(source_dir, "odoo", "addons", module)):
        for directory, _dirs, files in os.walk(base):
            for name in files:
                path = os.path.join(directory, name)
                if name.endswith(".xml"):
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        ids.update(i.rpartition(".")[2] for i in DEFINED_ID_RE.findall(fh.read()))
                elif name.endswith(".csv"):
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        ids.update(line.split(",", 1)[0].strip('"').rpartition(".")[2] for line in fh)
    return ids


# Warnings said many times with other names in them, told by what they mean (OpenUpgrade's own notes first).
KNOWN_MEANINGS = (
    (re.compile(r"Not dropping the column"), "kept a column the new version no longer uses (the data stays)"),
    (re.compile(r"Not dropping the table or view"), "kept a table the new version no longer uses (the data stays)"),
)
_VARYING_RE = re.compile(r"'[^']*'|\"[^\"]*\"|\S*[_.\d/]\S*")


def meaning(logger, message):
    """A warning told without the names that vary, so that its repeats count as one kind."""
    for pattern, text in KNOWN_MEANINGS:
        if pattern.search(message):
            return text
    first = (message.splitlines() or [""])[0]
    return ("%s: %s" % (logger, _VARYING_RE.sub("…", first)))[:160]


class MigrationLog:
    """What an ``-u all`` run under OpenUpgrade says, module by module: the
    order, time and queries of each module, the migration scripts it ran,
    its warnings and errors, and the module it stopped in."""

    def __init__(self):
        self.modules = {}
        self.order = []
        self.current = None
        self.errors = []
        # what is said between modules and after the last one (OpenUpgrade's closing notes): no module's
        self.outside = {"warnings": 0, "warning_kinds": {}, "errors": []}

    def _module(self, name):
        if name not in self.modules:
            self.modules[name] = {"module": name, "index": len(self.order) + 1, "seconds": None, "queries": None,
                                  "scripts": [], "from_version": None, "warnings": 0, "warning_kinds": {},
                                  "errors": []}
            self.order.append(name)
        return self.modules[name]

    def feed(self, line):
        """Read one log line; returns the level it had ('info' when none)."""
        match = LOG_RE.match(line)
        if not match:
            return "info"
        _when, level, logger, message = match.groups()
        level = level.lower()
        loading = LOADING_RE.match(message)
        if loading:
            self.current = loading.group(1)
            self._module(self.current)
        loaded = LOADED_RE.match(message)
        if loaded:
            module = self._module(loaded.group(1))
            module["seconds"], module["queries"] = float(loaded.group(2)), int(loaded.group(3))
            if loaded.group(1) == self.current:
                self.current = None  # what comes next belongs to the next module, or to none
        migration = MIGRATION_RE.match(message)
        if migration:
            self.current = migration.group(1)  # its scripts run (end-migrations come after every module loaded)
            self._module(self.current)["scripts"].append("%s %s" % (migration.group(3), migration.group(2)))
        if level in ("warning", "error", "critical"):
            where = self._module(self.current) if self.current else self.outside
            if level == "warning":
                where["warnings"] += 1
                kind = meaning(logger, message)
                where["warning_kinds"][kind] = where["warning_kinds"].get(kind, 0) + 1
            else:
                where["errors"].append(("%s: %s" % (logger, message))[:300])
                self.errors.append((self.current, message[:300]))
        return level if level in ("debug", "info", "warning", "error") else "error"

    def fatal_module(self, exit_code):
        """The module the run stopped in: loading began, never finished."""
        if exit_code == 0 or not self.current:
            return None
        return self.current if self.modules[self.current]["seconds"] is None else None

    def report(self):
        return [self.modules[name] for name in self.order]

    def after_modules(self):
        """What no module said (between modules, and OpenUpgrade's closing notes after the last)."""
        return self.outside

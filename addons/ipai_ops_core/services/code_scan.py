"""What a customer's addons need before the next Odoo version, read from
their files: pattern advisories matched line by line, the dependencies their
manifests declare, and whether rewritten code still compiles and lints.
Plain values in and out; nothing here executes the customer's code."""

import ast
import json
import os
import re
import subprocess

from lxml import etree

EXTENSIONS = {"py": (".py",), "xml": (".xml",), "js": (".js",), "csv": (".csv",), "any": (".py", ".xml", ".js")}
SKIP_DIRS = {"__pycache__", "node_modules", ".git", "static/lib"}
MAX_FILE_BYTES = 2 * 1024 * 1024


def manifest(tree, addon):
    """The manifest of ``addon`` as a dict (literal parsing); {} when unreadable."""
    try:
        with open(os.path.join(tree, addon, "__manifest__.py"), encoding="utf-8") as fh:
            value = ast.literal_eval(fh.read())
    except (OSError, ValueError, SyntaxError):
        return {}
    return value if isinstance(value, dict) else {}


_MANIFEST_VERSION_RE = re.compile(r"""(["']version["']\s*:\s*["'])(\d+\.\d+)\.""")
# A pin of an OCA wheel in requirements.txt: odoo-addon-<name>==<series>.<version> (a comment may follow)
_OCA_PIN_RE = re.compile(r"^(\s*odoo-addon-([A-Za-z0-9_.-]+)\s*==\s*)(\d+\.\d+)(\.[0-9.]+)(\s*(?:#.*)?)$")


def bump_manifest_version(tree, addon, from_version, to_version):
    """Move the manifest's version from the ``from_version`` series to
    ``to_version`` (17.0.1.2.0 -> 18.0.1.2.0), touching nothing else of the
    file; a version without a series (Odoo prefixes it) stays. Returns
    whether the file changed."""
    path = os.path.join(tree, addon, "__manifest__.py")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return False

    def series(match):
        return match.group(1) + to_version + "." if match.group(2) == from_version else match.group(0)

    new = _MANIFEST_VERSION_RE.sub(series, text, count=1)
    if new == text:
        return False
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(new)
    return True


def move_requirement_pins(tree, from_series, to_series, release_of):
    """Move the pins of OCA wheels in the tree's requirements.txt from the
    ``from_series`` series to ``to_series``: ``release_of(module)`` gives
    the newest release for ``to_series`` (None: there is none; a string
    starting with "error:" when the index cannot say). Only those lines
    change. Returns (moved [(package, old, new)], stuck [(package, old, why)])."""
    path = os.path.join(tree, "requirements.txt")
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
    except OSError:
        return [], []
    moved, stuck = [], []
    for index, line in enumerate(lines):
        match = _OCA_PIN_RE.match(line)
        if not match or match.group(3) != from_series:
            continue
        package, old = "odoo-addon-" + match.group(2), match.group(3) + match.group(4)
        release = release_of(match.group(2).replace("-", "_").lower())
        if not release or str(release).startswith("error:"):
            stuck.append((package, old, release[6:].strip() if release else "no %s release" % to_series))
            continue
        lines[index] = match.group(1) + release + match.group(5)
        moved.append((package, old, release))
    if moved:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
    return moved, stuck


def addon_files(tree, addon, extensions):
    """Paths (relative to ``tree``) of the addon's files with ``extensions``,
    links never followed, vendored libraries skipped."""
    root = os.path.join(tree, addon)
    for directory, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS
                         and os.path.normpath(os.path.join(rel_dir, d)) not in SKIP_DIRS
                         and not os.path.islink(os.path.join(directory, d)))
        for name in sorted(files):
            path = os.path.join(directory, name)
            if name.endswith(extensions) and not os.path.islink(path) and os.path.getsize(path) <= MAX_FILE_BYTES:
                yield os.path.relpath(path, tree)


def compile_advisories(advisories):
    """[(advisory, compiled regex, extensions)] for the advisories that have a pattern."""
    compiled = []
    for advisory in advisories:
        if advisory.get("pattern"):
            compiled.append((advisory, re.compile(advisory["pattern"]), EXTENSIONS[advisory.get("file_types") or "py"]))
    return compiled


def scan_patterns(tree, addons, advisories):
    """One finding per advisory per line it matches: {addon, file, line,
    advisory (its id), snippet}."""
    compiled = compile_advisories(advisories)
    wanted = tuple({ext for _a, _r, exts in compiled for ext in exts})
    findings = []
    for addon in addons:
        for rel in addon_files(tree, addon, wanted):
            try:
                with open(os.path.join(tree, rel), encoding="utf-8", errors="replace") as fh:
                    lines = fh.read().splitlines()
            except OSError:
                continue
            for advisory, regex, exts in compiled:
                if not rel.endswith(exts):
                    continue
                for number, text in enumerate(lines, start=1):
                    if regex.search(text):
                        findings.append({"addon": addon, "file": rel, "line": number, "advisory": advisory["id"],
                                         "snippet": text.strip()[:200]})
    return findings


def depends(tree, addons):
    """{addon: [the modules its manifest depends on]}."""
    result = {}
    for addon in addons:
        deps = manifest(tree, addon).get("depends") or []
        result[addon] = sorted({d for d in deps if isinstance(d, str)})
    return result


def classify_dependencies(deps_by_addon, own, source_core, target_core, apriori, releases):
    """Each module the project's addons depend on, checked against the target:
    [{module, addons (that depend on it), status, detail}], status one of
    own, core, merged, renamed, removed, released (a release for the target
    series, ``releases[module]``), unported (none), unknown (the index could
    not say). ``releases`` maps a module to its target-series version, None
    (no release) or an error string."""
    needed = {}
    for addon, deps in deps_by_addon.items():
        for dep in deps:
            needed.setdefault(dep, []).append(addon)
    rows = []
    for module in sorted(needed):
        status, detail = _dependency_status(module, own, source_core, target_core, apriori, releases)
        rows.append({"module": module, "addons": sorted(needed[module]), "status": status, "detail": detail})
    return rows


def _dependency_status(module, own, source_core, target_core, apriori, releases):
    if module in own:
        return "own", "one of the project's addons (scanned with them)"
    if module in apriori.get("merged_modules", {}):
        into = apriori["merged_modules"][module]
        return "merged", "merged into %s in the target version: OpenUpgrade moves its data; depend on %s" % (into, into)
    if module in apriori.get("renamed_modules", {}):
        new = apriori["renamed_modules"][module]
        return "renamed", "renamed %s in the target version: OpenUpgrade renames it; depend on %s" % (new, new)
    if module in target_core:
        return "core", "an Odoo module of the target version"
    if module in source_core:
        return "removed", "an Odoo module that the target version no longer has, and OpenUpgrade neither merges " \
                          "nor renames it"
    release = releases.get(module)
    if isinstance(release, str) and release.startswith("error:"):
        return "unknown", "the package index could not say (%s)" % release[6:].strip()
    if release:
        return "released", "released for the target series (%s)" % release
    return "unported", "no release for the target series on the package index"


BLOCKING = ("removed", "unported")


def read_apriori(source):
    """renamed_modules and merged_modules of OpenUpgrade's apriori.py (its
    text; literal dicts, nothing executed)."""
    result = {}
    try:
        module = ast.parse(source)
    except SyntaxError:
        return result
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("renamed_modules", "merged_modules"):
                try:
                    result[name] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return result


def check_tree(tree, addons, ruff_bin, files=None):
    """Problems in the (rewritten) addons: Python that does not compile or
    names what is not defined (ruff F821/F822/E999), XML that does not parse.
    ``files`` limits the check to these paths (relative to ``tree``).
    [{addon, file, line, message}]."""
    problems = []
    py_files, xml_files = [], []
    for addon in addons:
        for rel in addon_files(tree, addon, (".py", ".xml")):
            if files is not None and rel not in files:
                continue
            (py_files if rel.endswith(".py") else xml_files).append(rel)
    for rel in xml_files:
        try:
            etree.parse(os.path.join(tree, rel), etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            problems.append({"addon": rel.split(os.sep, 1)[0], "file": rel, "line": exc.lineno or 1,
                             "message": "XML does not parse: %s" % exc.msg})
    for start in range(0, len(py_files), 200):
        chunk = py_files[start:start + 200]
        proc = subprocess.run([ruff_bin, "check", "--isolated", "--no-cache", "--select", "E9,F821,F822,F823",
                               "--output-format", "json", "--", *chunk], cwd=tree, capture_output=True, text=True,
                              timeout=300)
        try:
            reported = json.loads(proc.stdout or "[]")
        except ValueError:
            reported = []
            problems.append({"addon": chunk[0].split(os.sep, 1)[0], "file": chunk[0], "line": 1,
                             "message": "the linter failed: %s" % (proc.stderr.strip()[-300:] or proc.returncode)})
        for item in reported:
            rel = os.path.relpath(item["filename"], tree) if os.path.isabs(item["filename"]) else item["filename"]
            problems.append({"addon": rel.split(os.sep, 1)[0], "file": rel,
                             "line": (item.get("location") or {}).get("row") or 1,
                             "message": "%s %s" % (item.get("code") or "syntax", item.get("message"))})
    return problems

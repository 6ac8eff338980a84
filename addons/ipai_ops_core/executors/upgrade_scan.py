"""A scan of a project's own addons for the next Odoo version (run kind
upgrade_scan). For each major step on the way (17.0 to 18.0, 18.0 to 19.0):
the step's advisories matched on the code as it is, then Odoo's
``upgrade_code`` of the step's target, in its runtime image, one addon at a
time, and odoo-module-migrator where it knows the step. The rewritten code is
compiled and linted (a tool's rewrite is checked, never trusted), becomes a
patch artifact and, on request, the branch upgrade/<version>. The modules the
addons depend on are checked against the target (core, merged or renamed by
OpenUpgrade, OCA releases): those that would block the migration are listed.

spec: repo_url, ref, commit_sha, git_cache, work_root, from_version,
to_version, steps [{from, to, image, tool, advisories}], source_image,
source_tool, push_branch, upgrade_branch, protected_branches, artifact_dir,
openupgrade_dir, package_index, namespace, run_id, project_slug.
"""

import hashlib
import os
import shutil
import sys
import time

from ..services import code_scan, git_repo, git_tree, odoo_versions, runtime, upgrade_tools
from . import paths, runtime_image, upgrade_coverage
from .base import RunFailed

RANK = {"info": 0, "warning": 1, "breaking": 2}
MAX_FINDINGS = 20000


def execute(spec, reporter, engine=None):
    engine = engine or runtime.for_spec(spec)
    reporter.log("info", "Upgrade scan of %s from Odoo %s to %s (%s)" % (
        spec["project_slug"], spec["from_version"], spec["to_version"],
        " then ".join("%s to %s" % (s["from"], s["to"]) for s in spec["steps"])))
    try:
        sha = git_repo.resolve(spec["repo_url"], spec.get("commit_sha") or spec["ref"], spec["git_cache"])
    except (git_repo.GitError, ValueError) as exc:
        raise RunFailed(str(exc)) from exc
    reporter.set_commit(sha)
    workdir = os.path.join(spec["work_root"], "upgrade-scan-%s-%d" % (spec["namespace"], spec["run_id"]))
    shutil.rmtree(workdir, ignore_errors=True)
    tree = os.path.join(workdir, "addons")
    started = time.monotonic()
    try:
        git_tree.export(spec["repo_url"], sha, tree, spec["git_cache"])
        addons = git_tree.addon_dirs(tree)
        if not addons:
            raise RunFailed("Commit %s of %s has no addon (no directory with a __manifest__.py at its root)."
                            % (sha[:12], spec["ref"]))
        reporter.log("info", "Commit %s: %d addons (%s)" % (sha[:12], len(addons), ", ".join(addons)))
        labels = runtime.labels_for(spec["namespace"], project=spec["project_slug"], run=spec["run_id"],
                                          role="upgrade-scan")
        findings, changed, timings = [], {}, {}
        deps = code_scan.depends(tree, addons)
        for step in spec["steps"]:
            findings += _advisories(spec, step, tree, addons, reporter)
            findings += _rewrite(spec, step, tree, addons, engine, labels, reporter, changed, timings)
            reporter.check_canceled()
        problems = code_scan.check_tree(tree, addons, _ruff(), files=set(changed) or None) if changed else []
        for problem in problems:
            findings.append({"addon": problem["addon"], "file": problem["file"], "line": problem["line"],
                             "source": "check", "severity": "breaking", "to_version": spec["to_version"],
                             "message": "After the rewrite: %s" % problem["message"]})
        if problems:
            reporter.log("warning", "The rewritten code has %d problem(s) the tools left: %s" % (
                len(problems), "; ".join("%s:%d %s" % (p["file"], p["line"], p["message"]) for p in problems[:5])))
        dependencies, source_core, releases = _dependencies(spec, engine, labels, deps, set(addons), reporter)
        findings += _requirements(spec, tree, releases, changed, reporter)
        for row in dependencies:
            if row["status"] in ("merged", "renamed", "removed", "unported", "unknown"):
                findings.append({
                    "addon": ", ".join(row["addons"]), "file": "%s/__manifest__.py" % row["addons"][0], "line": 0,
                    "source": "dependency", "to_version": spec["to_version"],
                    "severity": "breaking" if row["status"] in code_scan.BLOCKING else "warning",
                    "message": "Depends on %s: %s" % (row["module"], row["detail"])})
        modules, read_from = upgrade_coverage.installed_modules(spec, addons, deps, reporter)
        coverage, uncovered = upgrade_coverage.rows(spec, modules, set(addons), source_core, releases)
        findings += uncovered
        covered = upgrade_coverage.summary(coverage, [step["to"] for step in spec["steps"]])
        for to, seen in covered.items():
            reporter.log("warning" if seen["not_covered"] else "info", "OpenUpgrade for %s, %d modules (%s): %s%s" % (
                to, len(modules), read_from, ", ".join("%d %s" % (n, k) for k, n in sorted(seen["counts"].items())),
                "; not covered: %s" % ", ".join(seen["not_covered"]) if seen["not_covered"] else ""))
        # The automatic fixes: which findings' files a tool rewrote.
        for finding in findings:
            if finding["source"] == "advisory" and finding.pop("fixable", False):
                finding["autofix"] = finding["file"] in changed
            finding.pop("fixable", None)
            finding["severity_rank"] = RANK[finding["severity"]]
        patch = _patch(spec, sha, tree, changed, problems, reporter)
        blocking = [row for row in dependencies if row["status"] in code_scan.BLOCKING]
        report = {
            "from_version": spec["from_version"], "to_version": spec["to_version"], "commit_sha": sha,
            "addons": addons, "seconds": round(time.monotonic() - started, 2), "tool_seconds": timings,
            "dependencies": dependencies, "blocking": blocking, "patch": patch,
            "coverage": coverage, "coverage_summary": covered, "coverage_of": read_from,
            "counts": {sev: sum(1 for f in findings if f["severity"] == sev) for sev in RANK},
            "autofix": sum(1 for f in findings if f.get("autofix")),
        }
        if len(findings) > MAX_FINDINGS:
            reporter.log("warning", "%d findings: the first %d are kept" % (len(findings), MAX_FINDINGS))
            findings = sorted(findings, key=lambda f: -f["severity_rank"])[:MAX_FINDINGS]
        reporter.upgrade_result(report, findings)
        reporter.log("info", "Scan done in %.1fs: %d breaking, %d warnings, %d info; %d fixed automatically; "
                             "%d blocking dependencies" % (report["seconds"], report["counts"]["breaking"],
                                                           report["counts"]["warning"], report["counts"]["info"],
                                                           report["autofix"], len(blocking)))
        if blocking:
            reporter.log("warning", "Blocking the preview: %s" % "; ".join(
                "%s (%s)" % (row["module"], row["detail"]) for row in blocking))
        return {"result": "warning" if report["counts"]["breaking"] else "ok",
                "summary": "%d breaking, %d warnings, %d blocking dependencies" % (
                    report["counts"]["breaking"], report["counts"]["warning"], len(blocking))}
    except git_repo.GitError as exc:
        raise RunFailed(str(exc)) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _advisories(spec, step, tree, addons, reporter):
    """The step's pattern advisories on the code as it is before this step's tools."""
    by_id = {a["id"]: a for a in step["advisories"]}
    matches = code_scan.scan_patterns(tree, addons, step["advisories"])
    reporter.log("info", "Odoo %s to %s: %d advisories matched %d line(s)" % (
        step["from"], step["to"], len({m["advisory"] for m in matches}), len(matches)))
    return [{"addon": m["addon"], "file": m["file"], "line": m["line"], "advisory_id": m["advisory"],
             "source": "advisory", "severity": by_id[m["advisory"]]["severity"], "to_version": step["to"],
             "fixable": by_id[m["advisory"]]["fixed_by"] != "none",
             "message": "%s (line %d)" % (by_id[m["advisory"]]["code"], m["line"]), "snippet": m["snippet"]}
            for m in matches]


def _rewrite(spec, step, tree, addons, engine, labels, reporter, changed, timings):
    """Odoo's upgrade_code of the step's target (in its image, one addon at a
    time) then odoo-module-migrator where it knows the step; records the
    files they changed in ``changed`` ({path: tool}). Returns the migrator's
    messages as findings."""
    image_spec = dict(spec, tool_image=step["image"], tool=step["tool"])
    runtime_image.ensure(image_spec, reporter, engine)
    before = _digests(tree, addons)
    manifests = {addon: code_scan.manifest(tree, addon) for addon in addons}
    # The tools run as the runtime image's user: the tree becomes theirs.
    for directory, _dirs, files in os.walk(tree):
        os.chown(directory, paths.ODOO_UID, paths.ODOO_UID)
        for name in files:
            os.lchown(os.path.join(directory, name), paths.ODOO_UID, paths.ODOO_UID)
    name = "ipai-ops-%s-scan-%d" % (spec["namespace"], spec["run_id"])
    started = time.monotonic()
    try:
        results = upgrade_tools.upgrade_code(engine, step["image"], tree, addons, step["from"], name, labels,
                                             paths.ODOO_UID)
    except (RuntimeError, runtime.RuntimeFailure) as exc:
        raise RunFailed("Odoo %s's upgrade_code failed: %s" % (step["to"], exc)) from exc
    failed = {addon: r["error"] for addon, r in results.items() if r.get("error")}
    if failed:
        raise RunFailed("Odoo %s's upgrade_code failed on %s" % (step["to"], "; ".join(
            "%s (%s)" % item for item in sorted(failed.items()))))
    timings["upgrade_code %s" % step["to"]] = round(time.monotonic() - started, 2)
    reporter.log("info", "upgrade_code of Odoo %s: %s" % (step["to"], ", ".join(
        "%s %s (%.2fs)" % (addon, "rewritten" if r["changed"] else "unchanged", r["seconds"])
        for addon, r in sorted(results.items()))))
    started = time.monotonic()
    messages = upgrade_tools.module_migrator(tree, addons, step["from"], step["to"])
    findings = []
    if messages is not None:
        timings["odoo-module-migrator %s" % step["to"]] = round(time.monotonic() - started, 2)
        reporter.log("info", "odoo-module-migrator %s to %s: %d message(s)" % (step["from"], step["to"],
                                                                              len(messages)))
        for message in messages:
            addon = message["addon"] if message["addon"] in addons else addons[0]
            findings.append({"addon": addon, "file": message["file"] or "%s/__manifest__.py" % addon, "line": 0,
                             "source": "migrator", "to_version": step["to"], "message": message["text"][:250],
                             "severity": "breaking" if message["level"] == "error" else "warning"})
    # The manifests move to the target's series (upgrade_code leaves them; the migrator may have done it).
    bumped = [addon for addon in addons if code_scan.bump_manifest_version(tree, addon, step["from"], step["to"])]
    if bumped:
        reporter.log("info", "Manifests moved to Odoo %s: %s" % (step["to"], ", ".join(bumped)))
    # A rewrite must not lose what the manifest said (odoo-module-migrator 0.5.0's version bump can
    # swallow the key written after the version on the same line).
    for addon, was in manifests.items():
        lost = sorted(set(was) - set(code_scan.manifest(tree, addon)))
        if lost:
            findings.append({"addon": addon, "file": "%s/__manifest__.py" % addon, "line": 1, "source": "check",
                             "severity": "warning", "to_version": step["to"],
                             "message": "After the rewrite: the manifest lost %s; put it back" % ", ".join(lost)})
    after = _digests(tree, addons)
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            changed.setdefault(path, "%s to %s" % (step["from"], step["to"]))
    reporter.log("info", "Odoo %s to %s: the tools changed %d file(s)" % (
        step["from"], step["to"], sum(1 for v in changed.values() if v.endswith(step["to"]))))
    return findings


def _digests(tree, addons):
    digests = {}
    for addon in addons:
        for rel in code_scan.addon_files(tree, addon, (".py", ".xml", ".js", ".csv", ".scss", ".css", ".po", ".pot")):
            with open(os.path.join(tree, rel), "rb") as fh:
                digests[rel] = hashlib.sha256(fh.read()).hexdigest()
    return digests


def _ruff():
    candidate = os.path.join(os.path.dirname(sys.executable), "ruff")
    return candidate if os.path.exists(candidate) else shutil.which("ruff") or "ruff"


def _dependencies(spec, engine, labels, deps, own, reporter):
    """Every module the addons depend on, checked against the target."""
    target = spec["steps"][-1]
    name = "ipai-ops-%s-scan-%d-ls" % (spec["namespace"], spec["run_id"])
    try:
        target_core = upgrade_tools.core_modules(engine, target["image"], name, labels)
        source_core = set()
        if spec.get("source_image"):
            runtime_image.ensure(dict(spec, tool_image=spec["source_image"], tool=spec.get("source_tool") or {}),
                                 reporter, engine)
            source_core = upgrade_tools.core_modules(engine, spec["source_image"], name, labels)
    except (RuntimeError, runtime.RuntimeFailure) as exc:
        raise RunFailed("Cannot list the modules of the runtime images: %s" % exc) from exc
    apriori = {"renamed_modules": {}, "merged_modules": {}}
    for step in spec["steps"]:
        wheel = odoo_versions.openupgrade_wheel(spec["openupgrade_dir"], step["to"])
        found = upgrade_tools.apriori(wheel)
        if not found:
            reporter.log("warning", "OpenUpgrade's scripts wheel for %s is not at %s: modules it merges or renames "
                                    "are not recognised (scripts/setup.sh downloads it)" % (step["to"], wheel))
        for key in apriori:
            apriori[key].update(found.get(key) or {})
    unknown = sorted({d for ds in deps.values() for d in ds} - own - source_core - target_core
                     - set(apriori["merged_modules"]) - set(apriori["renamed_modules"]))
    releases = {module: upgrade_tools.series_release(spec["package_index"], module, spec["to_version"])
                for module in unknown}
    rows = code_scan.classify_dependencies(deps, own, source_core, target_core, apriori, releases)
    reporter.log("info", "Dependencies: %s" % ", ".join("%s %s" % (r["module"], r["status"]) for r in rows))
    return rows, source_core, releases


def _requirements(spec, tree, releases, changed, reporter):
    """The OCA wheels pinned in requirements.txt move to their newest release
    for the target (as the manifests do); one without a release is said."""
    def release_of(module):
        return releases[module] if module in releases else upgrade_tools.series_release(
            spec["package_index"], module, spec["to_version"])

    moved, stuck = code_scan.move_requirement_pins(tree, spec["from_version"], spec["to_version"], release_of)
    findings = []
    if moved:
        changed.setdefault("requirements.txt", "%s to %s" % (spec["from_version"], spec["to_version"]))
        reporter.log("info", "requirements.txt: %s" % ", ".join("%s %s -> %s" % pin for pin in moved))
        findings += [{"addon": False, "file": "requirements.txt", "line": 0, "source": "dependency",
                      "severity": "info", "to_version": spec["to_version"],
                      "message": "%s %s -> %s (its newest %s release)" % (package, old, new, spec["to_version"])}
                     for package, old, new in moved]
    findings += [{"addon": False, "file": "requirements.txt", "line": 0, "source": "dependency",
                  "severity": "breaking", "to_version": spec["to_version"],
                  "message": "%s %s stays pinned: %s; the build on Odoo %s refuses it (pip: odoo==%s.*)" % (
                      package, old, why, spec["to_version"], ".".join(old.split(".")[:2]))}
                 for package, old, why in stuck]
    return findings


def _patch(spec, sha, tree, changed, problems, reporter):
    """The rewrite as a patch artifact (and the upgrade branch when asked)."""
    if not changed:
        reporter.log("info", "No automatic rewrite: no patch")
        return {"files": [], "compiles": True}
    scratch = os.path.join(os.path.dirname(tree), "git")
    message = "Upgrade to Odoo %s: automatic rewrites (odoo-bin upgrade_code%s)\n\nMade by ipai ops, run %d." % (
        spec["to_version"], ", odoo-module-migrator" if any(
            (s["from"], s["to"]) in upgrade_tools.MIGRATOR_STEPS for s in spec["steps"]) else "", spec["run_id"])
    commit, diff = git_tree.commit_tree(spec["repo_url"], spec["git_cache"], sha, tree, message, scratch)
    os.makedirs(spec["artifact_dir"], exist_ok=True)
    location = os.path.join(spec["artifact_dir"], "run-%d-upgrade-%s.patch" % (spec["run_id"], spec["to_version"]))
    with open(location, "wb") as fh:
        fh.write(diff)
    reporter.artifact("patch", location, sha256=hashlib.sha256(diff).hexdigest(), content_type="text/x-diff",
                      size=len(diff))
    result = {"files": sorted(changed), "compiles": not problems, "commit": commit, "branch": False}
    reporter.log("info", "Patch: %d file(s), %d bytes%s" % (len(changed), len(diff), "" if not problems else
                                                              " (does not compile or lint cleanly as it is)"))
    if spec.get("push_branch"):
        branch = spec["upgrade_branch"]
        try:
            git_tree.push_commit(spec["repo_url"], scratch, commit, branch, protected=spec["protected_branches"])
        except (git_repo.GitError, ValueError) as exc:
            raise RunFailed("Pushing branch %s failed: %s" % (branch, exc)) from exc
        result["branch"] = branch
        reporter.log("info", "Pushed commit %s as branch %s of the project's repository" % (commit[:12], branch))
    return result

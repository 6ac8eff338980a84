"""Upgrade coverage, before anything runs: every module production has
installed (the code's addons and their dependencies when there is no
production yet), step by step, with what will migrate its data:

- Odoo's modules: OpenUpgrade's status read from the step's scripts wheel
  (services/upgrade_tools.coverage: done, not covered, nothing to do), or
  the module it is renamed to or merged into (its apriori);
- the project's own addons: its code (the scan's findings), its data by its
  own ``migrations/<version>/`` scripts;
- other modules (OCA's, third parties'): whether a release for the target
  exists on the package index (an OCA release ships its own migration).
"""

from ..services import odoo_versions, postgres, upgrade_tools


def installed_modules(spec, addons, deps, reporter):
    """(module names, where they were read)."""
    database = spec.get("production_database")
    if database:
        try:
            states = postgres.module_states(spec["db"], database)
            return sorted(name for name, (state, _v) in states.items() if state == "installed"), "production"
        except postgres.PostgresError as exc:
            reporter.log("warning", "Cannot read production's modules (%s): the coverage is of the code's "
                                    "addons and their dependencies" % exc)
    return sorted(set(addons) | {d for ds in deps.values() for d in ds}), "code"


def rows(spec, modules, own, source_core, releases):
    """[{module, kind, steps: {version: status}}] and findings for what no
    one migrates."""
    steps = []
    for step in spec["steps"]:
        wheel = odoo_versions.openupgrade_wheel(spec["openupgrade_dir"], step["to"])
        steps.append((step["to"], upgrade_tools.coverage(wheel, step["to"]), upgrade_tools.apriori(wheel)))
    table, findings = [], []
    for module in modules:
        if module in own:
            row = {"module": module, "kind": "custom", "steps": {
                to: "your code; its data by its own migrations/%s scripts" % to for to, _c, _a in steps}}
        elif module in source_core:
            row = {"module": module, "kind": "odoo", "steps": {to: _odoo_status(module, to, cov, apriori)
                                                               for to, cov, apriori in steps}}
            findings += [{"addon": module, "file": False, "line": 0, "source": "coverage", "severity": "warning",
                          "to_version": to, "message": "OpenUpgrade does not cover %s for Odoo %s: its analysis "
                                                       "lists changes no script migrates yet; check its data on the "
                                                       "preview" % (module, to)}
                         for to, status in row["steps"].items() if status == upgrade_tools.COVERAGE["todo"]]
        else:
            release = releases[module] if module in releases else upgrade_tools.series_release(
                spec["package_index"], module, spec["to_version"])
            shown = ("release %s" % release if release and not str(release).startswith("error")
                     else str(release) if release else "no %s release" % spec["to_version"])
            row = {"module": module, "kind": "other", "steps": {to: shown for to, _c, _a in steps}}
        table.append(row)
    return table, findings


def _odoo_status(module, to, cov, apriori):
    if module in (apriori.get("renamed_modules") or {}):
        return "renamed to %s" % apriori["renamed_modules"][module]
    if module in (apriori.get("merged_modules") or {}):
        return "merged into %s" % apriori["merged_modules"][module]
    if cov is None:
        return "unknown (OpenUpgrade's scripts wheel for %s is not there)" % to
    return cov.get(module, upgrade_tools.COVERAGE["none"])


def summary(table, versions):
    """Per step: {status: count} of Odoo's modules, and the names not covered."""
    out = {}
    for to in versions:
        counts, missing = {}, []
        for row in table:
            if row["kind"] != "odoo":
                continue
            status = row["steps"].get(to, "")
            key = status.split(" ")[0] if status.startswith(("renamed", "merged")) else status
            counts[key] = counts.get(key, 0) + 1
            if status == upgrade_tools.COVERAGE["todo"]:
                missing.append(row["module"])
        out[to] = {"counts": counts, "not_covered": missing}
    return out

"""ops upgrade ...: the upgrade advisor (scan the code for the next Odoo
version, read what it found)."""

from .output import emit, table
from .runs import project_id


def cmd_upgrade_scan(client, args):
    run = client.call("ops.project", "upgrade_scan", [project_id(client, args.project)], args.to or False,
                      args.push_branch)
    emit(args, run, "queued %s (upgrade scan to %s); `ops upgrade report %s%s` once it is done" % (
        run.get("name") or run["id"], args.to or "the project's target", args.project,
        " --to %s" % args.to if args.to else ""))


def cmd_upgrade_preview(client, args):
    run = client.call("ops.project", "upgrade_preview", [project_id(client, args.project)], args.to or False)
    emit(args, run, "queued %s (upgrade preview: a copy of production migrated with OpenUpgrade)%s" % (
        run.get("name") or run["id"], "".join("\nwarning: %s" % w for w in run.get("warnings") or [])))


def cmd_upgrade_run(client, args):
    run = client.call("ops.project", "upgrade_production", [project_id(client, args.project)], args.to or False)
    emit(args, run, "queued %s (upgrade of production), state %s: a project admin approves it with "
                    "`ops run approve %s`" % (run.get("name") or run["id"], run.get("state"), run.get("name")))


def cmd_upgrade_report(client, args):
    report = client.call("ops.project", "upgrade_report", [project_id(client, args.project)], args.to or False,
                         args.limit, args.run if args.run is not None else False)
    if args.json:
        emit(args, report, "")
        return 0
    scan, summary = report["scan"], report["report"]
    lines = ["%s: Odoo %s to %s%s" % (report["project"], report["from_version"], report["to_version"],
                                       " (done)" if report.get("done") else "")]
    if report.get("run"):
        lines += report["run"]["lines"]
        print("\n".join(lines))
        return 0
    if not scan:
        lines.append("no scan yet: ops upgrade scan %s --to %s" % (report["project"], report["to_version"]))
        print("\n".join(lines))
        return 0
    lines.append("scan run %s: %s%s, commit %s" % (scan["number"], scan["state"],
                                                    " (%s)" % scan["error"] if scan["error"] else "",
                                                    (scan["commit_sha"] or "-")[:12]))
    counts = report["counts"]
    lines.append("findings: %d breaking, %d warnings, %d info; %d fixed automatically" % (
        counts["breaking"], counts["warning"], counts["info"], summary.get("autofix", 0)))
    patch = summary.get("patch") or {}
    if patch.get("files"):
        lines.append("patch: %d file(s)%s%s" % (len(patch["files"]), "" if patch.get("compiles") else
                                                 " (needs a hand: see the 'check' findings)",
                                                 "; branch %s" % patch["branch"] if patch.get("branch") else ""))
    for to, seen in sorted((summary.get("coverage_summary") or {}).items()):
        lines.append("OpenUpgrade for %s (%s's modules): %s%s" % (
            to, summary.get("coverage_of"), ", ".join("%d %s" % (n, k) for k, n in sorted(seen["counts"].items())),
            "; NOT COVERED: %s" % ", ".join(seen["not_covered"]) if seen["not_covered"] else ""))
    others = [r for r in summary.get("coverage") or [] if r["kind"] != "odoo"]
    for row in others:
        lines.append("  %s (%s): %s" % (row["module"], row["kind"], "; ".join(
            "%s %s" % (to, status) for to, status in sorted(row["steps"].items()))))
    for row in summary.get("blocking") or []:
        lines.append("BLOCKING: %s (%s): %s" % (row["module"], ", ".join(row["addons"]), row["detail"]))
    for what in ("preview", "upgrade"):
        run = report.get(what)
        if run:
            lines += run["lines"]
            if what == "preview" and run.get("url"):
                lines.append("preview environment: %s" % run["url"])
    print("\n".join(lines))
    print(table(report["findings"], ["severity", "addon", "file", "line", "advisory", "autofix", "message"]))
    return 0


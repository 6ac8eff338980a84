"""A preview's or an upgrade's report as lines a person reads (the run's
Upgrade report tab, ``ops upgrade report``, XML-RPC): the outcome and the
downtime, then each step: its modules, its time, and the warnings by module
and by what they mean (services/openupgrade.meaning)."""


def run_lines(what, number, state, error, report):
    done = report or {}
    timing = ""
    if done.get("migration_seconds") is not None:
        timing = "; migration %ss, predicted downtime %ss" % (done["migration_seconds"],
                                                            done.get("predicted_downtime_seconds"))
        if done.get("downtime_seconds") is not None:
            timing += ", measured downtime %ss" % done["downtime_seconds"]
    lines = ["%s run %s: %s%s%s" % (what.replace("upgrade_", ""), number, state,
                                    " (%s)" % error if error else "", timing)]
    for step in done.get("steps") or []:
        modules = step.get("modules") or []
        lines.append("  step %s to %s: %d modules in %ss%s" % (
            step["from"], step["to"], len(modules), step.get("seconds"),
            ", stopped in %s" % step["fatal_module"] if step.get("fatal_module") else ""))
        for module in modules:
            if module.get("warnings") or module.get("errors"):
                lines.append("    %s: %d warning(s)%s" % (module["module"], module.get("warnings") or 0,
                                                          _kinds(module.get("warning_kinds"))))
                lines += ["      error: %s" % e for e in module.get("errors") or []]
        after = step.get("after_modules") or {}
        if after.get("warnings"):
            lines.append("    after the modules: %d warning(s)%s" % (after["warnings"],
                                                                     _kinds(after.get("warning_kinds"))))
    return lines


def _kinds(kinds):
    if not kinds:
        return ""
    ranked = sorted(kinds.items(), key=lambda item: -item[1])
    return ": " + "; ".join("%d x %s" % (count, text) for text, count in ranked[:5]) + (
        "; ..." if len(ranked) > 5 else "")

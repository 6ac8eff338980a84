"""ops project ... and ops run ...: projects, the run queue, logs."""

import time

from .client import CliError
from .output import cell, emit, print_lines, table

TERMINAL = ("succeeded", "failed", "canceled")
RUN_LIST_FIELDS = ["id", "display_name", "number", "kind", "state", "result", "stage", "branch",
                   "commit_sha", "claimed_by", "attempt", "create_date", "duration"]


def resolve_run(client, ref):
    """A run is given by its id (42) or as SLUG#NUMBER (acme-erp#7)."""
    if "#" in ref:
        slug, _sep, number = ref.rpartition("#")
        if not number.isdigit() or not slug:
            raise CliError("a run is RUN_ID or SLUG#NUMBER, not %r" % ref)
        ids = client.call("ops.run", "search", [("project_id.slug", "=", slug), ("number", "=", int(number))],
                          limit=1)
    elif ref.isdigit():
        ids = client.call("ops.run", "search", [("id", "=", int(ref))], limit=1)
    else:
        raise CliError("a run is RUN_ID or SLUG#NUMBER, not %r" % ref)
    if not ids:
        raise CliError("no run %s (or you may not see it)" % ref)
    return ids[0]


def project_id(client, slug):
    ids = client.call("ops.project", "search", [("slug", "=", slug)], limit=1)
    if not ids:
        raise CliError("no project %s (or you are not a member)" % slug)
    return ids[0]


def cmd_project_list(client, args):
    rows = client.call("ops.project", "search_read", [], fields=[
        "id", "name", "slug", "state", "repo_url", "default_branch", "odoo_version", "environment_count",
        "run_count", "my_role"], order="name")
    emit(args, rows, table(rows, ["slug", "name", "state", "my_role", "environment_count", "run_count",
                                    "repo_url"]))


def cmd_run_list(client, args):
    domain = [("project_id", "=", project_id(client, args.project))]
    if args.state:
        domain.append(("state", "=", args.state))
    if args.kind:
        domain.append(("kind", "=", args.kind))
    rows = client.call("ops.run", "search_read", domain, fields=RUN_LIST_FIELDS, limit=args.limit,
                       order="id desc")
    emit(args, rows, table(rows, ["display_name", "kind", "state", "result", "branch", "commit_sha",
                                    "create_date", "duration"]))


def cmd_run_create(client, args):
    values = {"project": args.project, "kind": args.kind}
    for key, value in (("branch", args.branch), ("environment_id", args.environment_id), ("ref", args.ref),
                       ("commit_sha", args.commit), ("idempotency_key", args.key),
                       ("priority", args.priority), ("max_attempts", args.max_attempts)):
        if value is not None:
            values[key] = value
    run = client.call("ops.run", "queue_run", values)
    verb = "queued" if run.get("created") else "already queued (same idempotency key)"
    emit(args, run, "%s %s: %s run, state %s" % (run["name"], verb, run["kind"], run["state"]))


def _show_text(run):
    keys = ["name", "project", "branch", "stage", "kind", "state", "result", "commit_sha", "ref", "priority",
            "attempt", "max_attempts", "claimed_by", "requested_by", "queued_at", "claimed_at", "started_at",
            "finished_at", "duration", "exit_code", "error_message", "idempotency_key"]
    width = max(map(len, keys))
    return "\n".join("%s  %s" % (k.ljust(width), cell(run.get(k))) for k in keys)


def cmd_run_show(client, args):
    run_id = resolve_run(client, args.run)
    run = client.call("ops.run", "api_read", [run_id])
    events = client.call("ops.run.event", "search_read", [("run_id", "=", run_id)],
                         fields=["timestamp_us", "kind", "message"], order="timestamp, id")
    run["events"] = events
    text = _show_text(run) + "\n\nEVENTS\n" + "\n".join(
        "%s  %-7s %s" % (e["timestamp_us"], e["kind"], e["message"] or "") for e in events)
    emit(args, run, text)


def cmd_run_logs(client, args):
    run_id = resolve_run(client, args.run)
    fields = ["id", "timestamp", "level", "message"]
    if args.tail:
        lines = client.call("ops.run.log", "search_read", [("run_id", "=", run_id)], fields=fields,
                            order="id desc", limit=args.tail)[::-1]
    else:
        lines = client.call("ops.run.log", "search_read", [("run_id", "=", run_id)], fields=fields,
                            order="id")
    print_lines(args, lines)
    last_id = lines[-1]["id"] if lines else 0
    if not args.follow:
        return
    deadline = time.monotonic() + args.timeout if args.timeout else None
    while True:
        state = client.call("ops.run", "read", [run_id], ["state"])[0]["state"]
        new = client.call("ops.run.log", "search_read", [("run_id", "=", run_id), ("id", ">", last_id)],
                          fields=fields, order="id", limit=1000)
        print_lines(args, new)
        if new:
            last_id = new[-1]["id"]
            continue
        if state in TERMINAL:
            # Lines written in the same transaction as the completion were read above.
            break
        if deadline and time.monotonic() > deadline:
            raise CliError("run still %s after %ss (--timeout)" % (state, args.timeout))
        time.sleep(args.interval)


def run_action(method, verb):
    def command(client, args):
        run_id = resolve_run(client, args.run)
        result = client.call("ops.run", method, [run_id])
        run = client.call("ops.run", "api_read", [run_id])
        data = {"run": run, "result": result}
        text = "%s %s: state %s" % (run["name"], verb, run["state"])
        if isinstance(result, dict) and result.get("name"):
            text += "; new run %s (%s)" % (result["name"], result["state"])
        emit(args, data, text)

    return command

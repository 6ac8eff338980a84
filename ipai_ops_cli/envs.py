"""ops env ...: the environments, promotion and rollback, Connect and logs."""

import json
import time
import webbrowser

from .output import emit, table

ENV_FIELDS = ["id", "branch", "stage", "state", "url", "last_result", "image_digest"]


def cmd_env_list(client, args):
    envs = client.call("ops.environment", "search_read", [("project_id.slug", "=", args.project),
                                                          ("state", "!=", "destroyed")],
                       fields=ENV_FIELDS, order="stage desc, branch")
    for env in envs:
        env["image"] = (env.pop("image_digest") or "")[7:19] or False
    emit(args, envs, table(envs, ["id", "branch", "stage", "state", "url", "last_result", "image"]))


def cmd_env_promote(client, args):
    run = client.call("ops.environment", "promote_branch", args.project, args.branch)
    emit(args, run, "promotion of %s to production queued as run %s (%s)" % (args.branch, run["name"], run["state"]))


def cmd_env_rollback(client, args):
    run = client.call("ops.environment", "rollback_project", args.project)
    emit(args, run, "rollback of %s production queued as run %s (%s)" % (args.project, run["name"], run["state"]))


def cmd_env_connect(client, args):
    link = client.call("ops.environment", "connect_branch", args.project, args.branch)
    emit(args, link, "%s\n(works once, within %d s)" % (link["url"], link["expires_in"]))
    if args.open:
        webbrowser.open(link["url"])


def cmd_env_logs(client, args):
    """The environment's Odoo log: the last lines that match, then (with
    --follow) the new ones as they come, until Ctrl-C or --timeout."""
    filters = {"since": args.since, "until": args.until, "grep": args.grep, "level": args.level}
    answer = client.call("ops.environment", "logs_branch", args.project, args.branch, limit=args.lines, **filters)
    _print_lines(args, answer["lines"])
    if not args.follow:
        return
    deadline = time.monotonic() + args.timeout if args.timeout else None
    cursor = answer["cursor"]
    while deadline is None or time.monotonic() < deadline:
        time.sleep(args.interval)
        answer = client.call("ops.environment", "logs_branch", args.project, args.branch, after=cursor,
                             limit=5000, grep=args.grep, level=args.level)
        _print_lines(args, answer["lines"])
        cursor = answer["cursor"]


def _print_lines(args, lines):
    for line in lines:
        print(json.dumps(line) if args.json else line["text"], flush=True)


METRIC_COLUMNS = ["time", "cpu_pct", "mem_bytes", "requests", "req_5xx", "p95_ms", "concurrency", "sql_share",
                  "db_bytes", "health_ms"]


def cmd_env_metrics(client, args):
    """The environment's series (one row a minute, or an hour for long ranges)."""
    answer = client.call("ops.environment", "metrics_branch", args.project, args.branch, since=args.since,
                         until=args.until)
    rows = [dict(zip(answer["columns"], point, strict=True)) for point in answer["points"]]
    for row in rows:
        for key in ("mem_bytes", "db_bytes"):
            row[key] = "%.0f MB" % (row[key] / 1e6) if row.get(key) else row.get(key)
    since = answer.get("collecting_since")
    text = table(rows, METRIC_COLUMNS) + ("\n(collecting since %s UTC)" % since if since else "\n(not collected yet)")
    emit(args, answer, text)

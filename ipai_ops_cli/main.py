"""`ops`: command line client of the ipai ops control plane.

Talks to Odoo's XML-RPC API with an API key, so it gets exactly the rights
of its user: the same record rules and role checks as the web UI.

Configuration, by precedence: command-line flags, environment variables
(OPS_URL, OPS_DB, OPS_LOGIN, OPS_API_KEY), then the INI file named by
--config or OPS_CONFIG (default ~/.config/ipai-ops/config), section [ops].
"""

import argparse
import configparser
import json
import os
import sys
import time
import xmlrpc.client

TERMINAL = ("succeeded", "failed", "canceled")
RUN_LIST_FIELDS = ["id", "display_name", "number", "kind", "state", "result", "stage", "branch",
                   "commit_sha", "claimed_by", "attempt", "create_date", "duration"]


class CliError(Exception):
    """An error for the user: printed without a traceback, exit code 1."""

    exit_code = 1


class AuthError(CliError):
    exit_code = 2


def load_config(args):
    path = args.config or os.environ.get("OPS_CONFIG") or os.path.expanduser("~/.config/ipai-ops/config")
    file_values = {}
    if os.path.exists(path):
        parser = configparser.ConfigParser()
        parser.read(path)
        if parser.has_section("ops"):
            file_values = dict(parser.items("ops"))
    elif args.config:
        raise CliError("config file %s not found" % path)

    def pick(flag, env, key, default=None):
        return flag or os.environ.get(env) or file_values.get(key) or default

    cfg = {
        "url": pick(args.url, "OPS_URL", "url", "http://127.0.0.1:8069").rstrip("/"),
        "db": pick(args.db, "OPS_DB", "db"),
        "login": pick(args.login, "OPS_LOGIN", "login"),
        "api_key": pick(None, "OPS_API_KEY", "api_key"),
    }
    missing = [k for k in ("db", "login", "api_key") if not cfg[k]]
    if missing:
        raise CliError(
            "missing %s: set OPS_DB, OPS_LOGIN and OPS_API_KEY (an API key from Odoo: "
            "Preferences > Account Security > New API Key), or put db, login and api_key in [ops] of %s"
            % (", ".join(missing), path)
        )
    return cfg


class Client:
    """Thin XML-RPC client: authenticate once, then execute_kw."""

    def __init__(self, url, db, login, api_key):
        self.url, self.db, self.login, self.api_key = url, db, login, api_key
        try:
            common = xmlrpc.client.ServerProxy("%s/xmlrpc/2/common" % url, allow_none=True)
            self.uid = common.authenticate(db, login, api_key, {})
        except OSError as exc:
            raise CliError("cannot reach %s: %s" % (url, exc)) from exc
        except xmlrpc.client.Fault as exc:
            raise CliError(_fault_message(exc)) from exc
        if not self.uid:
            raise AuthError("authentication failed for %s on database %s at %s" % (login, db, url))
        self.models = xmlrpc.client.ServerProxy("%s/xmlrpc/2/object" % url, allow_none=True)

    def call(self, model, method, *args, **kwargs):
        try:
            return self.models.execute_kw(self.db, self.uid, self.api_key, model, method, list(args), kwargs)
        except xmlrpc.client.Fault as exc:
            raise CliError(_fault_message(exc)) from exc
        except OSError as exc:
            raise CliError("cannot reach %s: %s" % (self.url, exc)) from exc


def _fault_message(fault):
    """Odoo puts the whole traceback in faultString: keep the last line."""
    text = (fault.faultString or "").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "server error"


# ----------------------------------------------------------------------
# output helpers
# ----------------------------------------------------------------------
def _table(rows, columns):
    if not rows:
        return "(none)"
    values = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(v[i]) for v in values)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)).rstrip() for vals in values]
    return "\n".join(lines)


def _cell(value):
    if value is False or value is None:
        return "-"
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        return str(value[1])
    if isinstance(value, float):
        return "%.1f" % value
    return str(value)


def _emit(args, data, text):
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


# ----------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------
def _resolve_run(client, ref):
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


def _project_id(client, slug):
    ids = client.call("ops.project", "search", [("slug", "=", slug)], limit=1)
    if not ids:
        raise CliError("no project %s (or you are not a member)" % slug)
    return ids[0]


def cmd_project_list(client, args):
    rows = client.call("ops.project", "search_read", [], fields=[
        "id", "name", "slug", "state", "repo_url", "default_branch", "odoo_version", "environment_count",
        "run_count", "my_role"], order="name")
    _emit(args, rows, _table(rows, ["slug", "name", "state", "my_role", "environment_count", "run_count",
                                    "repo_url"]))


def cmd_run_list(client, args):
    domain = [("project_id", "=", _project_id(client, args.project))]
    if args.state:
        domain.append(("state", "=", args.state))
    if args.kind:
        domain.append(("kind", "=", args.kind))
    rows = client.call("ops.run", "search_read", domain, fields=RUN_LIST_FIELDS, limit=args.limit,
                       order="id desc")
    _emit(args, rows, _table(rows, ["display_name", "kind", "state", "result", "branch", "commit_sha",
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
    _emit(args, run, "%s %s: %s run, state %s" % (run["name"], verb, run["kind"], run["state"]))


def _show_text(run):
    keys = ["name", "project", "branch", "stage", "kind", "state", "result", "commit_sha", "ref", "priority",
            "attempt", "max_attempts", "claimed_by", "requested_by", "queued_at", "claimed_at", "started_at",
            "finished_at", "duration", "exit_code", "error_message", "idempotency_key"]
    width = max(map(len, keys))
    return "\n".join("%s  %s" % (k.ljust(width), _cell(run.get(k))) for k in keys)


def cmd_run_show(client, args):
    run_id = _resolve_run(client, args.run)
    run = client.call("ops.run", "api_read", [run_id])
    events = client.call("ops.run.event", "search_read", [("run_id", "=", run_id)],
                         fields=["timestamp_us", "kind", "message"], order="timestamp, id")
    run["events"] = events
    text = _show_text(run) + "\n\nEVENTS\n" + "\n".join(
        "%s  %-7s %s" % (e["timestamp_us"], e["kind"], e["message"] or "") for e in events)
    _emit(args, run, text)


def _print_lines(args, lines):
    for line in lines:
        if args.json:
            print(json.dumps(line, sort_keys=True, default=str), flush=True)
        else:
            print("%s %-5s %s" % (line["timestamp"], line["level"].upper(), line["message"] or ""), flush=True)


def cmd_run_logs(client, args):
    run_id = _resolve_run(client, args.run)
    fields = ["id", "timestamp", "level", "message"]
    if args.tail:
        lines = client.call("ops.run.log", "search_read", [("run_id", "=", run_id)], fields=fields,
                            order="id desc", limit=args.tail)[::-1]
    else:
        lines = client.call("ops.run.log", "search_read", [("run_id", "=", run_id)], fields=fields,
                            order="id")
    _print_lines(args, lines)
    last_id = lines[-1]["id"] if lines else 0
    if not args.follow:
        return
    deadline = time.monotonic() + args.timeout if args.timeout else None
    while True:
        state = client.call("ops.run", "read", [run_id], ["state"])[0]["state"]
        new = client.call("ops.run.log", "search_read", [("run_id", "=", run_id), ("id", ">", last_id)],
                          fields=fields, order="id", limit=1000)
        _print_lines(args, new)
        if new:
            last_id = new[-1]["id"]
            continue
        if state in TERMINAL:
            # Lines written in the same transaction as the completion were read above.
            break
        if deadline and time.monotonic() > deadline:
            raise CliError("run still %s after %ss (--timeout)" % (state, args.timeout))
        time.sleep(args.interval)


def _run_action(method, verb):
    def command(client, args):
        run_id = _resolve_run(client, args.run)
        result = client.call("ops.run", method, [run_id])
        run = client.call("ops.run", "api_read", [run_id])
        data = {"run": run, "result": result}
        text = "%s %s: state %s" % (run["name"], verb, run["state"])
        if isinstance(result, dict) and result.get("name"):
            text += "; new run %s (%s)" % (result["name"], result["state"])
        _emit(args, data, text)

    return command


def cmd_env_promote(client, args):
    run = client.call("ops.environment", "promote_branch", args.project, args.branch)
    _emit(args, run, "promotion of %s to production queued as run %s (%s)" % (args.branch, run["name"], run["state"]))


def cmd_env_rollback(client, args):
    run = client.call("ops.environment", "rollback_project", args.project)
    _emit(args, run, "rollback of %s production queued as run %s (%s)" % (args.project, run["name"], run["state"]))


BACKUP_COLUMNS = ["id", "environment", "kind", "state", "started_at", "size", "verify_state"]


def cmd_backup_list(client, args):
    rows = client.call("ops.backup", "list_backups", args.project, limit=args.limit)
    _emit(args, rows, _table(rows, BACKUP_COLUMNS))


def cmd_backup_create(client, args):
    values = {"project": args.project}
    if args.branch:
        values["branch"] = args.branch
    backup = client.call("ops.backup", "create_backup", values)
    run = client.call("ops.run", "api_read", [backup["run_id"]])
    _emit(args, {"backup": backup, "run": run},
          "backup %d of %s queued as run %s (%s)" % (backup["id"], backup["environment"], run["name"], run["state"]))


def cmd_backup_restore(client, args):
    target = args.environment_id
    if args.branch:
        ids = client.call("ops.environment", "search", [("project_id.slug", "=", args.project or ""),
                                                        ("branch", "=", args.branch), ("state", "!=", "destroyed")],
                          limit=1)
        if not ids:
            raise CliError("no live environment for branch %s in project %s" % (args.branch, args.project))
        target = ids[0]
    run = client.call("ops.backup", "restore_backup", [args.backup], target or None)
    _emit(args, run, "restore of backup %d queued as run %s (%s)" % (args.backup, run["name"], run["state"]))


def _http_error(response):
    try:
        return response.json().get("error") or response.text
    except ValueError:
        return response.text[:500]


def cmd_backup_download(client, args):
    import requests

    url = "%s/ipai_ops/backup/%d/download" % (client.url, args.backup)
    output = args.output or "backup-%d.zip" % args.backup
    with requests.get(url, headers={"Authorization": "Bearer %s" % client.api_key}, stream=True,
                      timeout=600) as response:
        if response.status_code != 200:
            raise CliError("download refused (%d): %s" % (response.status_code, _http_error(response)))
        size = 0
        with open(output + ".part", "wb") as fh:
            for block in response.iter_content(1 << 20):
                fh.write(block)
                size += len(block)
    os.replace(output + ".part", output)
    _emit(args, {"path": output, "size": size}, "saved %s (%.1f MB)" % (output, size / 1e6))


class _MultipartFile:
    """A multipart/form-data body with one file field, read from disk as it
    is sent; its length is known up front (the server wants it)."""

    def __init__(self, path, field="file"):
        boundary = "ipai-ops-%s" % os.urandom(12).hex()
        self.content_type = "multipart/form-data; boundary=%s" % boundary
        name = os.path.basename(path).replace('"', "")
        head = ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                "Content-Type: application/zip\r\n\r\n" % (boundary, field, name)).encode()
        tail = ("\r\n--%s--\r\n" % boundary).encode()
        self._parts = [head, None, tail]
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by __exit__
        self._len = len(head) + os.fstat(self._fh.fileno()).st_size + len(tail)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __len__(self):
        return self._len

    def read(self, size=-1):
        size = size if size and size > 0 else 1 << 20
        while self._parts:
            part = self._parts[0]
            if part is None:
                data = self._fh.read(size)
                if data:
                    return data
                self._parts.pop(0)
                continue
            self._parts.pop(0)
            return part
        return b""


def cmd_backup_import(client, args):
    import requests

    # The target goes in the query string: the server checks it (and the
    # caller's role there) before it reads a byte of the zip, which is
    # streamed from disk, never held in memory.
    url = "%s/ipai_ops/backup/import" % client.url
    with _MultipartFile(args.zip) as body:
        response = requests.post(url, params={"environment_id": str(args.environment_id)},
                                 headers={"Authorization": "Bearer %s" % client.api_key,
                                          "Content-Type": body.content_type},
                                 data=body, timeout=3600)
    if response.status_code != 202:
        raise CliError("import refused (%d): %s" % (response.status_code, _http_error(response)))
    run = response.json()["run"]
    _emit(args, run, "import queued as run %s (%s)" % (run["name"], run["state"]))


# ----------------------------------------------------------------------
# argument parsing
# ----------------------------------------------------------------------
def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")

    parser = argparse.ArgumentParser(prog="ops", description=__doc__.split("\n\n")[0], parents=[common],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--url", help="control plane URL (OPS_URL, default http://127.0.0.1:8069)")
    parser.add_argument("--db", help="database (OPS_DB)")
    parser.add_argument("--login", help="login (OPS_LOGIN); the API key comes from OPS_API_KEY or the file")
    parser.add_argument("--config", help="INI file with an [ops] section (OPS_CONFIG)")
    sub = parser.add_subparsers(dest="group", required=True)

    project = sub.add_parser("project", help="projects").add_subparsers(dest="action", required=True)
    p = project.add_parser("list", parents=[common], help="projects you are a member of")
    p.set_defaults(func=cmd_project_list)

    run = sub.add_parser("run", help="runs").add_subparsers(dest="action", required=True)
    p = run.add_parser("list", parents=[common], help="runs of a project, newest first")
    p.add_argument("--project", required=True, metavar="SLUG")
    p.add_argument("--state")
    p.add_argument("--kind")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_run_list)

    p = run.add_parser("create", parents=[common], help="queue a run")
    p.add_argument("--project", required=True, metavar="SLUG")
    p.add_argument("--kind", required=True, help="build, test, deploy, backup, restore, clone, upgrade, ...")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--branch", help="environment by branch (created from the branch rules if new)")
    target.add_argument("--environment-id", type=int)
    p.add_argument("--ref")
    p.add_argument("--commit", metavar="SHA")
    p.add_argument("--key", help="idempotency key: the same key returns the same run")
    p.add_argument("--priority", type=int)
    p.add_argument("--max-attempts", type=int)
    p.set_defaults(func=cmd_run_create)

    p = run.add_parser("show", parents=[common], help="a run with its events")
    p.add_argument("run", metavar="RUN", help="RUN_ID or SLUG#NUMBER")
    p.set_defaults(func=cmd_run_show)

    p = run.add_parser("logs", parents=[common], help="a run's log (--follow until it finishes)")
    p.add_argument("run", metavar="RUN", help="RUN_ID or SLUG#NUMBER")
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--tail", type=int, help="only the last N lines first")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls with --follow")
    p.add_argument("--timeout", type=float, help="give up following after this many seconds")
    p.set_defaults(func=cmd_run_logs)

    for name, method, verb in (("cancel", "cancel_run", "canceled"), ("retry", "retry_run", "retried"),
                               ("approve", "approve_run", "approved")):
        p = run.add_parser(name, parents=[common], help="%s a run" % name)
        p.add_argument("run", metavar="RUN", help="RUN_ID or SLUG#NUMBER")
        p.set_defaults(func=_run_action(method, verb))

    envs = sub.add_parser("env", help="environments").add_subparsers(dest="action", required=True)
    p = envs.add_parser("promote", parents=[common], help="deploy a staging build's exact image to production")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("branch", metavar="STAGING_BRANCH")
    p.set_defaults(func=cmd_env_promote)
    p = envs.add_parser("rollback", parents=[common], help="production back to its previous image and database")
    p.add_argument("project", metavar="SLUG")
    p.set_defaults(func=cmd_env_rollback)

    backup = sub.add_parser("backup", help="backups").add_subparsers(dest="action", required=True)
    p = backup.add_parser("list", parents=[common], help="backups of a project, newest first")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_backup_list)
    p = backup.add_parser("create", parents=[common], help="take a manual backup (default: production)")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("--branch", help="the environment's branch (default: the production environment)")
    p.set_defaults(func=cmd_backup_create)
    p = backup.add_parser("restore", parents=[common], help="restore a backup (default: into its environment)")
    p.add_argument("backup", type=int, metavar="BACKUP_ID")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--environment-id", type=int, help="restore into this development or staging environment")
    target.add_argument("--branch", help="restore into this branch's environment (with --project)")
    p.add_argument("--project", metavar="SLUG")
    p.set_defaults(func=cmd_backup_restore)
    p = backup.add_parser("download", parents=[common], help="download as an Odoo database manager zip")
    p.add_argument("backup", type=int, metavar="BACKUP_ID")
    p.add_argument("-o", "--output", help="file to write (default backup-ID.zip)")
    p.set_defaults(func=cmd_backup_download)
    p = backup.add_parser("import", parents=[common], help="import a database manager zip into an environment")
    p.add_argument("zip", metavar="ZIP")
    p.add_argument("--environment-id", type=int, required=True, help="a development or staging environment")
    p.set_defaults(func=cmd_backup_import)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
    try:
        cfg = load_config(args)
        client = Client(cfg["url"], cfg["db"], cfg["login"], cfg["api_key"])
        args.func(client, args)
    except CliError as exc:
        print("ops: error: %s" % exc, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

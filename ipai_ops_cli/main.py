"""`ops`: command line client of the ipai ops control plane.

Talks to Odoo's XML-RPC API with an API key, so it gets exactly the rights
of its user: the same record rules and role checks as the web UI.

Configuration, by precedence: command-line flags, environment variables
(OPS_URL, OPS_DB, OPS_LOGIN, OPS_API_KEY), then the INI file named by
--config or OPS_CONFIG (default ~/.config/ipai-ops/config), section [ops].
"""

import argparse
import sys

from .backups import (
    cmd_backup_create,
    cmd_backup_download,
    cmd_backup_drill_pitr,
    cmd_backup_import,
    cmd_backup_list,
    cmd_backup_mark_pitr,
    cmd_backup_pitr_status,
    cmd_backup_recover_cluster,
    cmd_backup_restore,
    cmd_backup_restore_pitr,
)
from .client import Client, CliError, load_config
from .envs import cmd_env_connect, cmd_env_list, cmd_env_logs, cmd_env_metrics, cmd_env_promote, cmd_env_rollback
from .incidents import cmd_incident_ack, cmd_incident_list
from .runs import cmd_project_list, cmd_run_create, cmd_run_list, cmd_run_logs, cmd_run_show, run_action
from .shell import cmd_env_shell
from .upgrade import cmd_upgrade_preview, cmd_upgrade_report, cmd_upgrade_run, cmd_upgrade_scan


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
        p.set_defaults(func=run_action(method, verb))

    envs = sub.add_parser("env", help="environments").add_subparsers(dest="action", required=True)
    p = envs.add_parser("list", parents=[common], help="a project's environments and their URLs")
    p.add_argument("project", metavar="SLUG")
    p.set_defaults(func=cmd_env_list)
    p = envs.add_parser("promote", parents=[common], help="deploy a staging build's exact image to production")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("branch", metavar="STAGING_BRANCH")
    p.set_defaults(func=cmd_env_promote)
    p = envs.add_parser("rollback", parents=[common], help="production back to its previous image and database")
    p.add_argument("project", metavar="SLUG")
    p.set_defaults(func=cmd_env_rollback)
    p = envs.add_parser("connect", parents=[common],
                        help="a single-use link that logs you into an environment as its administrator")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("branch", metavar="BRANCH")
    p.add_argument("--open", action="store_true", help="open it in a browser")
    p.set_defaults(func=cmd_env_connect)
    p = envs.add_parser("logs", parents=[common], help="an environment's Odoo log (--follow for new lines)")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("branch", metavar="BRANCH")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    p.add_argument("--since", help="only lines since: 10m, 2h, 7d or a UTC date and time (2026-11-26 08:30)")
    p.add_argument("--until", help="only lines until then (same forms as --since)")
    p.add_argument("--grep", metavar="TEXT", help="only lines containing TEXT (literal, case-insensitive)")
    p.add_argument("--level", choices=["debug", "info", "warning", "error", "critical"],
                   help="only lines of this level and above (a traceback keeps its record's level)")
    p.add_argument("-n", "--lines", type=int, default=200, help="how many of the last lines first (default 200)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls with --follow")
    p.add_argument("--timeout", type=float, help="stop following after this many seconds")
    p.set_defaults(func=cmd_env_logs)
    p = envs.add_parser("metrics", parents=[common], help="an environment's metrics: CPU, memory, requests, database")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("branch", metavar="BRANCH")
    p.add_argument("--since", default="1h", help="10m, 24h, 7d or a UTC date and time (default 1h)")
    p.add_argument("--until", help="same forms as --since (default now)")
    p.set_defaults(func=cmd_env_metrics)
    p = envs.add_parser("shell", help="a shell in an environment's container (--odoo: Odoo's shell on its database)")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("branch", metavar="BRANCH")
    p.add_argument("--odoo", action="store_true", help="Odoo's own shell (env, models) on the environment's database")
    terminal = p.add_mutually_exclusive_group()
    terminal.add_argument("-t", dest="tty", action="store_true", default=None, help="force a PTY")
    terminal.add_argument("-T", dest="tty", action="store_false", help="no PTY (input as it is, like ssh -T)")
    p.set_defaults(func=cmd_env_shell)

    incident = sub.add_parser("incident", help="incidents opened by alert rules").add_subparsers(dest="action",
                                                                                                required=True)
    p = incident.add_parser("list", parents=[common], help="incidents you may see, newest first")
    p.add_argument("--open", action="store_true", help="only those not resolved")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_incident_list)
    p = incident.add_parser("ack", parents=[common], help="acknowledge an open incident")
    p.add_argument("incident", type=int, metavar="ID")
    p.set_defaults(func=cmd_incident_ack)

    upgrade = sub.add_parser("upgrade", help="the upgrade advisor").add_subparsers(dest="action", required=True)
    p = upgrade.add_parser("scan", parents=[common], help="scan the project's code for the next Odoo version")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--to", help="target version (default: the project's upgrade target)")
    p.add_argument("--push-branch", action="store_true",
                   help="push the automatic rewrites as branch upgrade/<version>")
    p.set_defaults(func=cmd_upgrade_scan)
    p = upgrade.add_parser("preview", parents=[common],
                           help="migrate a neutralized copy of production with OpenUpgrade, started as an environment")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--to", help="target version (default: the project's upgrade target)")
    p.set_defaults(func=cmd_upgrade_preview)
    p = upgrade.add_parser("run", parents=[common], help="upgrade production (after a preview; needs an approval)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--to", help="target version (default: the project's upgrade target)")
    p.set_defaults(func=cmd_upgrade_run)
    p = upgrade.add_parser("report", parents=[common],
                           help="the last scan, preview and upgrade (a finished upgrade's too)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--to", help="target version (default: the project's upgrade target, else its last upgrade's)")
    p.add_argument("--run", type=int, metavar="N", help="the report of the project's scan, preview or upgrade run N")
    p.add_argument("--limit", type=int, default=500, help="findings shown (default 500)")
    p.set_defaults(func=cmd_upgrade_report)

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
    p = backup.add_parser("restore-pitr", parents=[common],
                          help="restore production as it was at a second (WAL archive, production's cluster)")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("--at", required=True, metavar="'YYYY-MM-DD HH:MM:SS'",
                   help="the moment, UTC unless an offset such as +01:00 follows")
    p.add_argument("--to", choices=("staging", "production"), default="staging",
                   help="staging (neutralized, the default) or production itself (admins, approval)")
    p.set_defaults(func=cmd_backup_restore_pitr)
    p = backup.add_parser("pitr-status", parents=[common], help="what production can be restored to, and how far "
                                                                "behind its WAL archive is")
    p.add_argument("project", metavar="SLUG")
    p.set_defaults(func=cmd_backup_pitr_status)
    p = backup.add_parser("mark-pitr", parents=[common],
                          help="write down production's row counts now: a moment a drill can restore to")
    p.add_argument("project", metavar="SLUG")
    p.set_defaults(func=cmd_backup_mark_pitr)
    p = backup.add_parser("drill-pitr", parents=[common],
                          help="restore production to a random mark of the window (or --mark) and check it")
    p.add_argument("project", metavar="SLUG")
    p.add_argument("--mark", type=int, metavar="ID", help="the mark to restore to (default: one at random)")
    p.set_defaults(func=cmd_backup_drill_pitr)
    p = backup.add_parser("recover-cluster", parents=[common],
                          help="production's cluster lost: rebuild it from its repository (Ops managers)")
    p.set_defaults(func=cmd_backup_recover_cluster)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
    try:
        cfg = load_config(args)
        client = Client(cfg["url"], cfg["db"], cfg["login"], cfg["api_key"])
        code = args.func(client, args)
    except CliError as exc:
        print("ops: error: %s" % exc, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())

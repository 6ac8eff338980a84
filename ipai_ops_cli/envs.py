"""ops env ...: promotion and rollback."""

from .output import emit


def cmd_env_promote(client, args):
    run = client.call("ops.environment", "promote_branch", args.project, args.branch)
    emit(args, run, "promotion of %s to production queued as run %s (%s)" % (args.branch, run["name"], run["state"]))


def cmd_env_rollback(client, args):
    run = client.call("ops.environment", "rollback_project", args.project)
    emit(args, run, "rollback of %s production queued as run %s (%s)" % (args.project, run["name"], run["state"]))

"""Which executor runs a run: by kind, and by stage where the stage decides
(a build of development, of staging and of production are three different
jobs). Adding a run kind is one executor module plus one line here (or, for
another addon, in its ``ops.run._ops_executors`` override)."""

from . import build, deploy, lifecycle, staging, upgrade, upgrade_preview, upgrade_scan

BY_STAGE = {"development": build.execute, "staging": staging.execute, "production": deploy.execute}

EXECUTORS = {
    **{("build", stage): function for stage, function in BY_STAGE.items()},
    **{("deploy", stage): function for stage, function in BY_STAGE.items()},
    ("rollback", "production"): deploy.rollback,
    ("start", None): lifecycle.start,
    ("recreate", None): lifecycle.recreate,
    ("stop", None): lifecycle.stop,
    ("destroy", None): lifecycle.destroy,
    ("upgrade_scan", None): upgrade_scan.execute,
    ("upgrade_preview", None): upgrade_preview.execute,
    ("upgrade", "production"): upgrade.execute,
}


def kinds(executors):
    """The run kinds some executor runs."""
    return {kind for kind, _stage in executors}


def lookup(executors, kind, stage):
    """The executor of ``kind`` on ``stage`` (a stage-specific one first), or None."""
    return executors.get((kind, stage)) or executors.get((kind, None))

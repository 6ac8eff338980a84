"""Who may do what on which stage: Odoo.sh's collaborator matrix, defined
once. Every server-side check (run queueing, promotion, backups, caught
mail, and the daily tools: connect, logs, shell, monitoring) asks
:func:`required_role`; the record rules that filter by stage follow the same
table, and a table-driven test holds them to it.

Roles rank viewer < developer < tester < admin < owner; an Ops Manager
ranks above all of them on every project.
"""

ROLES = ("viewer", "developer", "tester", "admin", "owner")
ROLE_RANK = {"viewer": 0, "developer": 1, "tester": 2, "admin": 3, "owner": 4, "manager": 5}
STAGES = ("development", "staging", "production")

# Acting on an environment's code and containers.
RUN_ACTIONS = ("build", "deploy", "start", "stop", "destroy", "rollback")
# Looking inside a running environment (the daily tools).
INSPECT_ACTIONS = ("connect", "logs", "shell", "mails", "monitoring")
# Its data: copies of production that leave the platform or replace an environment.
DATA_ACTIONS = ("backup", "restore", "drill")
ACTIONS = ("history",) + RUN_ACTIONS + INSPECT_ACTIONS + DATA_ACTIONS

MATRIX = {
    # every project role sees the history of every stage
    "development": dict({"history": "viewer"}, **{a: "developer" for a in RUN_ACTIONS + INSPECT_ACTIONS},
                        **{a: "admin" for a in DATA_ACTIONS}),
    # developers see the history only; testers also act, connect, read logs and mails
    "staging": dict({"history": "viewer"}, **{a: "tester" for a in RUN_ACTIONS + INSPECT_ACTIONS},
                    **{a: "admin" for a in DATA_ACTIONS}),
    # admins only, beyond the history
    "production": dict({"history": "viewer"}, **{a: "admin" for a in ACTIONS if a != "history"}),
}
# Project-wide actions, on no stage.
PROJECT_ACTIONS = {"history": "viewer", "settings": "admin", "members": "admin", "approve": "admin",
                   # the upgrade advisor: reading the code is a developer's job; a preview copies production's
                   # data, and the upgrade changes production: admins
                   "upgrade_scan": "developer", "upgrade_preview": "admin"}
# Run kinds whose check is the project-wide action of the same name, whatever environment they work from.
PROJECT_KINDS = ("upgrade_scan", "upgrade_preview")


def action_for_kind(kind):
    """The matrix action a run kind needs (kinds without a row of their own,
    such as test or upgrade, act on the environment like a build)."""
    return kind if kind in ACTIONS or kind in PROJECT_KINDS else "build"


def required_role(stage, action):
    """The lowest role allowed ``action`` on ``stage`` (None: project-wide)."""
    if stage is None or stage is False or action in PROJECT_KINDS:
        if action in PROJECT_ACTIONS:
            return PROJECT_ACTIONS[action]
        stage = "development"
    if stage not in MATRIX:
        raise ValueError("Unknown stage %r." % (stage,))
    if action not in MATRIX[stage]:
        raise ValueError("Unknown action %r." % (action,))
    return MATRIX[stage][action]


def allows(role, stage, action):
    """Whether ``role`` (or 'manager', or None for a non-member) may do ``action`` on ``stage``."""
    return role is not None and ROLE_RANK.get(role, -1) >= ROLE_RANK[required_role(stage, action)]


def roles_allowed(stage, action):
    """The project roles allowed ``action`` on ``stage`` (for record rules and the README)."""
    return [role for role in ROLES if allows(role, stage, action)]

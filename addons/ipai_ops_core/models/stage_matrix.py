"""Who may do what on which stage: Odoo.sh's collaborator matrix, defined
once. Every server-side check (run queueing, promotion, backups, caught
mail, and the daily tools: connect, logs, shell, monitoring) asks
:func:`required_role` (through ``ops.run._ops_stage_matrix``, which adds
the rows of other addons' kinds: backups, restores, drills); the record
rules that filter by stage follow the same table, and a table-driven test
holds them to it.

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
ACTIONS = ("history",) + RUN_ACTIONS + INSPECT_ACTIONS

MATRIX = {
    # every project role sees the history of every stage
    "development": dict({"history": "viewer"}, **{a: "developer" for a in RUN_ACTIONS + INSPECT_ACTIONS}),
    # developers see the history only; testers also act, connect, read logs and mails
    "staging": dict({"history": "viewer"}, **{a: "tester" for a in RUN_ACTIONS + INSPECT_ACTIONS}),
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


def extended(actions, matrix=None):
    """``matrix`` with more actions: {action: {stage: lowest role}} (an
    addon's run kinds that are actions of their own: backups, restores)."""
    for action, roles in actions.items():
        if set(roles) != set(STAGES) or not set(roles.values()) <= set(ROLES):
            raise ValueError("Action %r needs a role (%s) on each stage (%s)." % (action, ", ".join(ROLES),
                                                                                   ", ".join(STAGES)))
    return {stage: dict(row, **{action: roles[stage] for action, roles in actions.items()})
            for stage, row in (matrix or MATRIX).items()}


def action_for_kind(kind, matrix=None):
    """The matrix action a run kind needs (kinds without a row of their own,
    such as upgrade, act on the environment like a build)."""
    return kind if kind in (matrix or MATRIX)["development"] or kind in PROJECT_KINDS else "build"


def required_role(stage, action, matrix=None):
    """The lowest role allowed ``action`` on ``stage`` (None: project-wide)."""
    matrix = matrix or MATRIX
    if stage is None or stage is False or action in PROJECT_KINDS:
        if action in PROJECT_ACTIONS:
            return PROJECT_ACTIONS[action]
        stage = "development"
    if stage not in matrix:
        raise ValueError("Unknown stage %r." % (stage,))
    if action not in matrix[stage]:
        raise ValueError("Unknown action %r." % (action,))
    return matrix[stage][action]


def allows(role, stage, action, matrix=None):
    """Whether ``role`` (or 'manager', or None for a non-member) may do ``action`` on ``stage``."""
    return role is not None and ROLE_RANK.get(role, -1) >= ROLE_RANK[required_role(stage, action, matrix)]


def roles_allowed(stage, action, matrix=None):
    """The project roles allowed ``action`` on ``stage`` (for record rules and the README)."""
    return [role for role in ROLES if allows(role, stage, action, matrix)]

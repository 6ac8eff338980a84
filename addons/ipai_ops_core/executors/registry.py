"""The kinds of run, each defined once: which executor runs it on which
stage (a build of development, of staging and of production are three
different jobs), the ``ops.run`` methods that make its spec, the config
keys only the platform sets, whether it starts a container, and the stage
matrix row it brings when it is an action of its own.

Core defines its kinds in :func:`core_kinds`; another addon adds its own
(and extends core's) in its ``ops.run._ops_run_kinds`` override: adding a
run kind is one executor module, one :class:`RunKind` and a
``selection_add`` on ``ops.run.kind``.
"""

from . import build, deploy, lifecycle, staging, upgrade, upgrade_preview, upgrade_scan

BY_STAGE = {"development": build.execute, "staging": staging.execute, "production": deploy.execute}
ENVIRONMENT_SPEC = "_ops_environment_spec"  # ops.run method: the spec of a run on an environment


class RunKind:
    """One kind of run.

    ``executors``: {stage or None (any stage): function(spec, reporter)}.
    ``spec``: the ``ops.run`` method making its base spec (called with the
    host's name); ``extend_spec``: methods called in order with the spec,
    each returning it completed. ``reserved_config``: config keys only the
    platform's own methods set. ``trusted_only``: queued by the platform's
    own methods (their checks), never with ``queue_run``. ``roles``:
    {stage: lowest role} when the kind is a stage-matrix action of its own
    (else it needs the matrix's ``build``). ``on_state``: ``ops.run``
    methods called with the new state when a run of this kind changes state.
    ``approval`` on production: "policy" (when the project asks for
    approvals), "always" or "never"."""

    __slots__ = ("executors", "spec", "extend_spec", "reserved_config", "starts_container", "trusted_only", "roles",
                 "on_state", "approval")

    def __init__(self, executors, spec=ENVIRONMENT_SPEC, extend_spec=(), reserved_config=(), starts_container=False,
                 trusted_only=False, roles=None, on_state=(), approval="policy"):
        self.executors = dict(executors)
        self.spec = spec
        self.extend_spec = tuple(extend_spec)
        self.reserved_config = frozenset(reserved_config)
        self.starts_container = starts_container
        self.trusted_only = trusted_only
        self.roles = dict(roles) if roles else None
        self.on_state = tuple(on_state)
        if approval not in ("policy", "always", "never"):
            raise ValueError("approval is policy, always or never, not %r" % (approval,))
        self.approval = approval

    def extended(self, stage=None, wrap=None, extend_spec=(), reserved_config=()):
        """A copy whose executors of ``stage`` (every stage: None) are wrapped
        by ``wrap(executor)``, with more spec methods and reserved keys."""
        kind = RunKind(self.executors, self.spec, self.extend_spec + tuple(extend_spec),
                       self.reserved_config | frozenset(reserved_config), self.starts_container, self.trusted_only,
                       self.roles, self.on_state, self.approval)
        if wrap:
            kind.executors = {key: wrap(function) if stage is None or key == stage else function
                              for key, function in kind.executors.items()}
        return kind

    def executor(self, stage):
        """The executor on ``stage`` (a stage-specific one first), or None."""
        return self.executors.get(stage) or self.executors.get(None)


def core_kinds():
    """The kinds of run core defines."""
    upgrades = ("upgrade_to", "preview_run_id", "push_branch")
    return {
        "build": RunKind(BY_STAGE, extend_spec=("_ops_staging_data_spec",), starts_container=True),
        "deploy": RunKind(BY_STAGE, extend_spec=("_ops_staging_data_spec", "_ops_promotion_spec"),
                          reserved_config=("promote_environment_id", "image_digest", "promoted_from"),
                          starts_container=True),
        # a rollback is an emergency: it runs at once (approval is for what brings new code or data)
        "rollback": RunKind({"production": deploy.rollback}, starts_container=True, approval="never"),
        "start": RunKind({None: lifecycle.start}, starts_container=True),
        "recreate": RunKind({None: lifecycle.recreate}, starts_container=True),
        # operations (Ops managers, a drain): the same code and data on another node of a swarm
        "move": RunKind({None: lifecycle.move}, starts_container=True, trusted_only=True, approval="never",
                        reserved_config=("node", "stopped")),
        "stop": RunKind({None: lifecycle.stop}),
        "destroy": RunKind({None: lifecycle.destroy}),
        "upgrade_scan": RunKind({None: upgrade_scan.execute}, spec="_ops_upgrade_scan_spec", reserved_config=upgrades,
                                trusted_only=True, approval="never"),
        "upgrade_preview": RunKind({None: upgrade_preview.execute}, extend_spec=("_ops_upgrade_preview_spec",),
                                   reserved_config=upgrades, starts_container=True, trusted_only=True,
                                   approval="never"),
        "upgrade": RunKind({"production": upgrade.execute}, extend_spec=("_ops_upgrade_spec",),
                           reserved_config=upgrades, starts_container=True, trusted_only=True,
                           on_state=("_ops_upgrade_state_changed",), approval="always"),
    }


def lookup(kinds, kind, stage):
    """The executor of ``kind`` on ``stage``, or None."""
    entry = kinds.get(kind)
    return entry.executor(stage) if entry else None

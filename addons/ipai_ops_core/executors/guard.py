"""Before an executor drops a database or removes a container, it proves
the thing belongs to the environment it works for, and refuses loudly
otherwise. Names are unique by construction (services/naming.py); these
checks are the second lock: ownership as PostgreSQL and Docker record it.
"""

from ..services import naming, postgres, runtime
from .base import RunFailed


def env_owners(spec):
    """The roles whose databases this run may drop: the environment's own
    role, and the role that owns its current database; in installations
    from before per-environment roles, the project's shared role (which
    only ever owned this project's databases)."""
    current = spec.get("current") or {}
    return {role for role in (spec["db_role"], current.get("db_owner"), spec.get("legacy_role")) if role}


def drop_database(spec, name, owners=None):
    """Drop ``name`` if it is one of this control plane's databases owned by
    ``owners`` (default: the environment's roles). Returns whether it existed."""
    if not name:
        return False
    if not naming.owns_database_name(spec["namespace"], name):
        raise RunFailed("Refusing to drop database %s: it is not a database of this control plane "
                        "(namespace %s)." % (name, spec["namespace"]))
    try:
        return postgres.drop_database(spec["db"], name, owner=owners or env_owners(spec))
    except postgres.PostgresError as exc:
        raise RunFailed(str(exc)) from exc


def owner_labels(spec):
    return {runtime.LABEL_PREFIX + "plane": spec["namespace"],
            runtime.LABEL_PREFIX + "environment": str(spec["environment_id"])}


def remove_container(engine, spec, ref, wait=True):
    """Remove container ``ref`` if it carries this environment's labels (``wait``: the runtime's)."""
    if not ref:
        return False
    try:
        return engine.remove_container(ref, expect_labels=owner_labels(spec), wait=wait)
    except runtime.RuntimeFailure as exc:
        raise RunFailed(str(exc)) from exc

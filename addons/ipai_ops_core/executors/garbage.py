"""The garbage collector's side effects: what this control plane made and
no live environment owns any more goes (containers, images beyond the last
few of an environment, databases its roles own, roles of destroyed
environments). ``state`` is the plain picture the model gathered
(ops.environment._gc_state): what to leave alone."""

import logging

from ..services import env_network, postgres, runtime

_logger = logging.getLogger(__name__)
KEEP_IMAGES = 3  # per environment, for rollback


def collect_hosts(hosts, state):
    """``collect_docker`` on each (name, endpoint, runtime kind) of
    ``hosts``; a host that does not answer is skipped with a warning
    (collected next time)."""
    removed = {"containers": 0, "images": 0, "networks": 0}
    for name, url, kind in hosts:
        try:
            engine = runtime.connect(url, kind or "docker")
        except runtime.RuntimeFailure as exc:
            _logger.warning("ops gc: host %s: %s; its containers and images not collected", name, exc)
            continue
        for kind, count in collect_docker(engine, state).items():
            removed[kind] += count
    return removed


def collect_docker(engine, state):
    """Containers and images of this plane that nothing owns. Containers of
    other control planes sharing the engine are never looked at."""
    removed = {"containers": 0, "images": 0, "networks": 0}
    plane = {runtime.LABEL_PREFIX + "plane": state["plane"]}
    for container in engine.containers(plane):
        if container["id"] in state["containers"] or container["labels"].get("ipai-ops.run") in state["active_runs"]:
            continue
        if container["labels"].get(runtime.LABEL_PREFIX + "role") in ("gateway", "guard"):
            continue  # a swarm's gateway and its nodes' guard (services/swarm_g*.py): the platform's, no environment's
        removed["containers"] += engine.remove_container(container["id"])
    by_env = {}
    for image in engine.images(plane):
        by_env.setdefault(image["labels"].get("ipai-ops.environment"), []).append(image)
    live_ids = {str(env_id) for env_id in state["live_ids"]}
    for env_id, images in by_env.items():
        # Newest first by run id; a destroyed environment keeps none.
        images.sort(key=lambda i: int(i["labels"].get("ipai-ops.run") or 0), reverse=True)
        spare = KEEP_IMAGES if env_id in live_ids else 0
        for image in images[spare:]:
            if image["id"] not in state["images"] and image["labels"].get("ipai-ops.run") not in state["active_runs"]:
                removed["images"] += engine.remove_image(image["id"])
    # Networks of environments that are gone (or moved to the other kind
    # when their stage changed), once nothing is attached any more.
    for net in env_network.networks(engine, state["plane"]):
        env_id = net["environment_id"]
        if net["containers"] or net["kind"] == env_network.BUILD or env_id in state["busy_envs"]:
            continue
        if env_id in state["live_ids"] and net["kind"] == state["network_kinds"].get(env_id):
            continue
        try:
            removed["networks"] += env_network.remove(engine, net["name"])
        except runtime.RuntimeFailure as exc:
            _logger.info("ops gc: %s", exc)
    return removed


def collect_databases(state):
    """Databases with this plane's names that its own roles own but no live
    environment uses (builds and drills left behind, verified copies of
    destroyed environments), then roles of destroyed environments and the
    shared project roles of older installations once they own nothing."""
    admin, plane = state["db"], state["plane"]
    ours = "ops_%s_" % plane
    removed = {"databases": 0, "roles": 0}
    candidates = postgres.list_databases(admin, plane + "_") + postgres.list_databases(admin, "drill_%s_" % plane)
    candidates += postgres.list_databases(admin, "vbk_%s_" % plane)
    for name in candidates:
        if name in state["databases"]:
            continue
        owner = postgres.database_owner(admin, name)
        if not owner or not owner.startswith(ours):
            continue  # not made by this control plane's roles: not ours to judge
        parts = name.split("_")
        if name.startswith("vbk_"):
            if int(parts[2]) in state["live_ids"]:
                continue  # the verified copy of a live environment
        elif name.startswith("drill_"):
            if parts[2] in state["active_runs"]:
                continue
        elif len(parts) > 2 and parts[1].isdigit():
            if int(parts[1]) in state["busy_envs"]:
                continue  # a run of that environment may be creating it right now
        elif owner in state["busy_roles"]:
            continue  # an older name: its project has a run going on
        postgres.drop_database(admin, name, owner=owner)
        removed["databases"] += 1
    keep_roles = state["roles"] | state["busy_roles"]
    for role in postgres.list_roles(admin, ours):
        suffix = role[len(ours):]
        if role in keep_roles or suffix.endswith("_tpl"):
            continue
        if suffix[:1] == "e" and suffix[1:].isdigit() and (int(suffix[1:]) in state["live_ids"]
                                                          or int(suffix[1:]) in state["busy_envs"]):
            continue
        if postgres.databases_owned_by(admin, role):
            continue
        try:
            removed["roles"] += bool(postgres.drop_role(admin, role))
        except postgres.PostgresError as exc:
            _logger.info("ops gc: role %s kept: %s", role, exc)
    return removed

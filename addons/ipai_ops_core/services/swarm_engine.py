"""The ``swarm`` backend of the runtime interface: Docker Swarm.

A serving unit is a Swarm service of one replica (services/runtime.py's
``start``): on an overlay network of its own (attachable, so that one-shot
commands run as plain containers beside it), reachable by its name through
Docker's DNS (``dnsrr``: no virtual IP, no routing mesh, which needs IPVS),
pinned to one node by that node's label and never moved by Swarm itself
(a node that stops answering may still run it: two copies on one database
would be worse than a visible outage), ``init`` as its first process so
SIGTERM stops Odoo at once, restarted where it is when it dies. Its files
(the configuration with the credentials) are Swarm configs and secrets,
never environment variables or command lines; they cannot change in
place, so each start makes its own, named after their content, and removing
the unit removes them.

What the plain engine does is done the same way here on the manager's
engine: images, one-shot commands (plain containers on the attachable
overlay), events of the local containers. A command in a unit whose task
runs on another node (a shell, its last health check) goes through that
node's own engine: ``nodes`` maps a node's host name to its endpoint (the
Docker endpoint on its ops.host.node record). The swarm itself (init, join,
nodes, their labels and availability, overlay networks) is
services/swarm_cluster.py's; a unit's files are services/swarm_files.py's.
"""

import logging
import time

from docker.errors import APIError, NotFound
from docker.types import (
    EndpointSpec,
    Healthcheck,
    Mount,
    Resources,
    RestartPolicy,
    ServiceMode,
)

from .docker_engine import DockerEngine
from .runtime import RuntimeFailure, owner_labels
from .swarm_cluster import NODE_LABEL, SwarmCluster
from .swarm_exec import SwarmExec
from .swarm_files import SwarmFiles
from .swarm_jobs import SwarmJobs

_logger = logging.getLogger(__name__)

TASK_LABEL = "com.docker.swarm.task.id"  # on the containers Swarm runs for a service
# a task's states (docker/swarmkit api/types.proto), as the plain engine names a container's
_RUNNING = {"running": "running"}
_STARTING = ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting")
_ENDED = ("complete", "shutdown", "failed", "rejected", "orphaned", "remove")
_SECOND = 1_000_000_000  # Swarm's durations are in nanoseconds


# Failures of a task that the next task does not have: Docker 20.10 loses
# the race between tasks starting at once on a node for overlays the node
# has just joined ("network sandbox does not exist for container ...").
TRANSIENT = ("network sandbox does not exist",)
TRANSIENT_RETRIES = 3


def _transient(task):
    return any(text in ((task.get("Status") or {}).get("Err") or "") for text in TRANSIENT)


def _size(value):
    """Bytes from Docker's memory notation (512m, 2g, or bytes)."""
    if value in (None, "", 0):
        return None
    text = str(value).strip().lower()
    scale = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}.get(text[-1:])
    return int(float(text[:-1]) * scale) if scale else int(text)


class SwarmEngine(SwarmExec, SwarmJobs, SwarmCluster, SwarmFiles, DockerEngine):
    kind = "swarm"

    # ------------------------------------------------------------------
    # serving units: services
    # ------------------------------------------------------------------
    def _service(self, ref):
        if not ref:
            return None
        try:
            return self.client.services.get(ref)
        except NotFound:
            return None
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise RuntimeFailure("Cannot read service %s: %s" % (ref, exc.explanation or exc)) from exc

    def start(self, image, command, name, labels, network=None, ip=None, volumes=None, environment=None,
              mem_limit=None, nano_cpus=None, user=None, entrypoint=None, restart_policy=None, hostname=None,
              files=None, node=None, healthcheck=None, wait=180):
        """A service of one replica (see the module); its id once its task
        runs (and is healthy, with a ``healthcheck``: {test, interval,
        timeout, retries, start_period} in seconds). ``ip`` is not used: a
        service's address is Swarm's to give, and its name resolves to it.
        A unit that does not start is removed with its files, and the
        failure names the cause (Swarm's own words: no suitable node, no
        such image ...)."""
        self._require_manager()
        if not network or network in ("host", "none"):
            raise RuntimeFailure("Refusing to create service %s without a network of its own." % name)
        self.remove_container(name, expect_labels=owner_labels(labels))
        configs, secrets, made = self._files(name, labels, files)
        mounts = [Mount(target=spec["bind"], source=source, type="bind", read_only=spec.get("mode") == "ro")
                  for source, spec in (volumes or {}).items()]
        constraints = ["node.labels.%s==%s" % (NODE_LABEL, node)] if node else []
        kwargs = {
            "name": name, "labels": labels, "container_labels": labels, "command": list(command or []) or None,
            "networks": [network], "mounts": mounts, "configs": configs, "secrets": secrets,
            "env": ["%s=%s" % kv for kv in (environment or {}).items()], "user": user, "hostname": hostname,
            "endpoint_spec": EndpointSpec(mode="dnsrr"), "mode": ServiceMode("replicated", replicas=1),
            "constraints": constraints, "init": True, "stop_grace_period": 20 * _SECOND,
            "restart_policy": RestartPolicy(condition="any", delay=2 * _SECOND, max_attempts=0),
            "resources": Resources(cpu_limit=int(nano_cpus) if nano_cpus else None, mem_limit=_size(mem_limit)),
        }
        if entrypoint:
            kwargs["command"], kwargs["args"] = entrypoint, kwargs["command"]
        else:
            kwargs["args"], kwargs["command"] = kwargs["command"], None
        if healthcheck:
            kwargs["healthcheck"] = Healthcheck(
                test=healthcheck["test"], interval=int(healthcheck.get("interval", 5) * _SECOND),
                timeout=int(healthcheck.get("timeout", 5) * _SECOND), retries=int(healthcheck.get("retries", 3)),
                start_period=int(healthcheck.get("start_period", 0) * _SECOND))
        try:
            service = self.client.services.create(image, **kwargs)
        except APIError as exc:
            self._remove_files(made)
            raise RuntimeFailure("Cannot create service %s: %s" % (name, exc.explanation or exc)) from exc
        try:
            self._wait_running(service.id, name, wait)
        except RuntimeFailure:
            self.remove_container(service.id)
            raise
        return service.id

    def start_local(self, image, command, name, labels, **kwargs):
        """A plain container on the manager's own node (the platform's gateway), as the plain engine starts one."""
        return DockerEngine.start(self, image, command, name, labels, **kwargs)

    def _tasks(self, service_id):
        """The service's tasks, as Swarm lists them ([] when it cannot say)."""
        try:
            return self.client.api.tasks(filters={"service": service_id})
        except APIError:
            return []

    @staticmethod
    def _newest(tasks):
        """The task Swarm wants running, else the last one."""
        ranked = sorted(tasks, key=lambda t: (t.get("DesiredState") == "running", t.get("CreatedAt") or ""))
        return ranked[-1] if ranked else None

    @staticmethod
    def _placed(tasks):
        """The last task given a node."""
        placed = [t for t in tasks if t.get("NodeID")]
        return max(placed, key=lambda t: t.get("CreatedAt") or "") if placed else None

    def _task_container(self, task):
        return (((task or {}).get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")

    def _wait_running(self, service_id, name, wait, earlier=()):
        """Until the service's task runs (and is healthy, with a health check). A task that
        failed meanwhile (not one of ``earlier``) fails the start: Swarm
        would restart it over and over, and its first error is the cause."""
        deadline = time.monotonic() + wait
        pending_since = None
        while True:
            tasks = self._tasks(service_id)
            failed = [t for t in tasks
                      if t["ID"] not in earlier and ((t.get("Status") or {}).get("State")) in ("failed", "rejected")]
            if failed and all(_transient(t) for t in failed) and len(failed) <= TRANSIENT_RETRIES:
                failed = []  # Swarm starts another task (restart policy): give it that chance
            task = min(failed, key=lambda t: t.get("CreatedAt") or "") if failed else self._newest(tasks)
            status = (task or {}).get("Status") or {}
            state, err = status.get("State"), status.get("Err")  # Message is progress ("pending task scheduling")
            if state == "running":
                # with a health check, Swarm keeps a task "starting" until it is healthy (and fails it if not)
                return
            if state in ("failed", "rejected"):
                said = ("; its last health check said: %s" % self._last_probe(task)) if "unhealthy" in (err or "") \
                    else ""
                raise RuntimeFailure("Service %s did not start: %s%s" % (name, err or status.get("Message") or state,
                                                                        said))
            elif state == "pending" and err:
                # "no suitable node (...)": placement cannot be satisfied now
                pending_since = pending_since or time.monotonic()
                if time.monotonic() - pending_since > 3:
                    raise RuntimeFailure("Service %s cannot be placed: %s" % (name, err))
            if time.monotonic() > deadline:
                raise RuntimeFailure("Service %s did not run within %ds (its task is %s%s)." % (
                    name, wait, state or "not created", ": %s" % err if err else ""))
            time.sleep(0.25)

    def _last_probe(self, task):
        """What the unit's last health check printed (read on its node's engine)."""
        container_id = self._task_container(task)
        try:
            node = self.client.nodes.get(task["NodeID"]).attrs if (task or {}).get("NodeID") else {}
            engine = self._task_engine(container_id, (node.get("Description") or {}).get("Hostname")) \
                if container_id else None
            if engine is None:
                return "not known on this node, and its node's engine is not known here"
            state = engine.client.api.inspect_container(container_id).get("State") or {}
            log = (state.get("Health") or {}).get("Log") or [{}]
            return (log[-1].get("Output") or "").strip()[-300:] or "no output"
        except (APIError, NotFound, RuntimeFailure) as exc:
            return "not readable (%s)" % exc

    def container(self, ref):
        """The plain engine's view of a unit (services/runtime.py) plus
        ``node`` (the host name it runs on), ``node_state`` (ready, down ...)
        and ``task_container``; its status is ``lost`` while its node does
        not answer. A plain container (a one-shot command) is the plain
        engine's."""
        service = self._service(ref)
        if service is None:
            return super().container(ref)
        attrs = service.attrs
        spec = attrs.get("Spec") or {}
        replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1)
        tasks = self._tasks(service.id)
        task = self._newest(tasks)
        status = (task or {}).get("Status") or {}
        state = status.get("State")
        if not replicas or state in _ENDED:
            shown = "exited"
        else:
            shown = _RUNNING.get(state) or ("created" if state in _STARTING else "exited")
        container_status = status.get("ContainerStatus") or {}
        networks = {}
        for attachment in (task or {}).get("NetworksAttachments") or []:
            net_name = (attachment.get("Network") or {}).get("Spec", {}).get("Name")
            addresses = attachment.get("Addresses") or []
            networks[net_name] = addresses[0].split("/")[0] if addresses else None
        # the node: the newest task's, else the last one placed (a node lost leaves its unit's new task unplaced)
        placed = task if (task or {}).get("NodeID") else self._placed(tasks)
        node_name = node_state = None
        if placed:
            try:
                node = self.client.nodes.get(placed["NodeID"]).attrs
                node_name = (node.get("Description") or {}).get("Hostname")
                node_state = (node.get("Status") or {}).get("State")
            except (APIError, NotFound):
                node_state = "gone"
        if replicas and node_state in ("down", "unknown", "disconnected", "gone"):
            shown = "lost"  # its node does not answer: whether it still runs there nobody can say
        image = (((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image") or "").split("@")[0]
        return {"id": service.id, "name": service.name, "status": shown, "labels": spec.get("Labels") or {},
                "exit_code": container_status.get("ExitCode"), "oom_killed": False,
                "started_at": status.get("Timestamp") if shown == "running" else None,
                "finished_at": status.get("Timestamp") if shown == "exited" else None, "network_mode": None,
                "image": self.image_id(image) or image, "networks": networks, "node": node_name,
                "node_state": node_state,
                "task_container": self._task_container(task), "pid": container_status.get("PID") or None,
                "error": status.get("Err")}

    def containers(self, labels, all=True):  # noqa: A002 - mirrors the SDK
        """Services carrying ``labels``, and plain containers (one-shot commands) that are no service's task."""
        filters = {"label": ["%s=%s" % (k, v) for k, v in labels.items()]}
        found = []
        for service in self.client.services.list(filters=filters):
            info = self.container(service.id)
            if info and (all or info["status"] == "running"):
                found.append({k: info[k] for k in ("id", "name", "status", "labels")})
        found += [c for c in super().containers(labels, all=all) if TASK_LABEL not in c["labels"]]
        return found

    def logs(self, ref, tail=200):
        service = self._service(ref)
        if service is None:
            return super().logs(ref, tail=tail)
        try:
            raw = self.client.api.service_logs(service.id, stdout=True, stderr=True, tail=tail, follow=False)
            return b"".join(raw).decode("utf-8", "replace").splitlines()
        except APIError as exc:
            raise RuntimeFailure("Cannot read the logs of service %s: %s" % (ref, exc.explanation or exc)) from exc

    def _scale(self, service, replicas):
        try:
            service.reload()
            service.scale(replicas)
        except APIError as exc:
            raise RuntimeFailure("Cannot scale service %s to %d: %s" % (service.name, replicas,
                                                                       exc.explanation or exc)) from exc

    def stop(self, ref, timeout=20):
        """Scale to none and wait until its task has ended."""
        service = self._service(ref)
        if service is None:
            return super().stop(ref, timeout=timeout)
        self._scale(service, 0)
        deadline = time.monotonic() + timeout + 10
        while time.monotonic() < deadline:
            if not any(t.get("DesiredState") == "running" or ((t.get("Status") or {}).get("State")) in
                       ("running", *_STARTING) for t in self._tasks(service.id)):
                return True
            time.sleep(0.25)
        raise RuntimeFailure("Service %s did not stop within %ds." % (service.name, timeout + 10))

    def start_existing(self, ref):
        service = self._service(ref)
        if service is None:
            return super().start_existing(ref)
        earlier = {t["ID"] for t in self._tasks(service.id)}
        self._scale(service, 1)
        self._wait_running(service.id, service.name, 180, earlier=earlier)
        return True

    def remove_container(self, ref, expect_labels=None, wait=True):
        """Remove a service with its configs and secrets (or a plain container); False when there is none.
        Without ``wait``, Swarm stops its task after this returns (an old unit after a switch: nothing
        needs it gone, and its Odoo takes seconds to stop)."""
        service = self._service(ref)
        if service is None:
            return super().remove_container(ref, expect_labels=expect_labels)
        labels = (service.attrs.get("Spec") or {}).get("Labels") or {}
        if expect_labels:
            wrong = {k: labels.get(k) for k, v in expect_labels.items() if labels.get(k) != str(v)}
            if wrong:
                raise RuntimeFailure("Refusing to remove service %s: its labels %s are not %s" % (
                    service.name, wrong, {k: expect_labels[k] for k in wrong}))
        name = service.name
        try:
            service.remove()
        except NotFound:
            return False
        except APIError as exc:
            raise RuntimeFailure("Cannot remove service %s: %s" % (name, exc.explanation or exc)) from exc
        self._remove_unit_files(name)
        # its containers on this node gone too: what comes next (its network's removal) needs them gone
        deadline = time.monotonic() + 30
        while wait and time.monotonic() < deadline and self.client.containers.list(
                all=True, sparse=True, filters={"label": "com.docker.swarm.service.id=%s" % service.id}):
            time.sleep(0.25)
        return True

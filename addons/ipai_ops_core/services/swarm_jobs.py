"""One-shot commands as Swarm jobs (services/swarm_engine.py): a service of
mode ``replicated-job`` (one task, never restarted), pinned to a node by
its label, its files Swarm configs and secrets as a unit's are, on the
environment's overlay. What an environment on a node with a disk of its
own needs: a plain container there could mount neither the platform's
configuration file nor its addons for environments, which are on the
platform's machine, while a job gets them from the manager like a unit.
Its output is read through the manager (service logs), wherever it runs.
"""

import time

from docker.errors import APIError
from docker.types import Mount, Resources, RestartPolicy, ServiceMode

from .runtime import RuntimeFailure

PLACEMENT_TIMEOUT = 120  # seconds a job's task may wait for its node (down, or without the image)
_JOB_ENDED = ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")


class SwarmJobs:
    """Mixed into the swarm backend: ``self.client`` is a manager's engine."""

    def run_job(self, image, command, name, labels, network, node_label, node, files=None, volumes=None,
                environment=None, mem_limit=None, nano_cpus=None, entrypoint=None, on_line=None, timeout=3600):
        """Run ``command`` once on node ``node`` (its ``node_label``), stream
        its output to ``on_line``, remove it with its files; return
        (exit code, last lines)."""
        self._require_manager()
        self.remove_container(name)
        configs, secrets, made = self._files(name, labels, files)
        mounts = [Mount(target=spec["bind"], source=source, type="bind", read_only=spec.get("mode") == "ro")
                  for source, spec in (volumes or {}).items()]
        kwargs = {
            "name": name, "labels": labels, "container_labels": labels, "networks": [network], "mounts": mounts,
            "configs": configs, "secrets": secrets, "constraints": ["node.labels.%s==%s" % (node_label, node)],
            "env": ["%s=%s" % kv for kv in (environment or {}).items()], "mode": ServiceMode("replicated-job"),
            "restart_policy": RestartPolicy(condition="none"),
        }
        if entrypoint:
            kwargs["command"], kwargs["args"] = entrypoint, list(command or [])
        else:
            kwargs["args"] = list(command or [])
        if mem_limit or nano_cpus:
            from .swarm_engine import _size  # noqa: PLC0415 - the engine imports this module

            kwargs["resources"] = Resources(mem_limit=_size(mem_limit) if mem_limit else None,
                                            cpu_limit=int(nano_cpus) if nano_cpus else None)
        try:
            service = self.client.services.create(image, **kwargs)
        except APIError as exc:
            self._remove_files(made)
            raise RuntimeFailure("Cannot create job %s: %s" % (name, exc.explanation or exc)) from exc
        tail = []
        try:
            state, status = self._follow_job(service.id, name, timeout, tail, on_line)
            if state != "complete" and status.get("Err") and not (status.get("ContainerStatus") or {}).get(
                    "ExitCode"):
                raise RuntimeFailure("Job %s did not run on node %s: %s" % (name, node, status["Err"]))
            return (status.get("ContainerStatus") or {}).get("ExitCode", 0 if state == "complete" else -1), tail
        finally:
            self.remove_container(service.id)

    def _follow_job(self, service_id, name, timeout, tail, on_line):
        """Until the job's task ended, its new output lines passed on as they
        come (the output is read again at each poll, through the manager:
        a one-shot command says a few thousand lines at most); (its state,
        its status). A task no node takes within PLACEMENT_TIMEOUT is an
        error saying why."""
        started = time.monotonic()
        deadline, seen = started + timeout, 0
        while True:
            tasks = self._tasks(service_id)
            task = self._newest(tasks)
            status = (task or {}).get("Status") or {}
            state = status.get("State")
            try:
                raw = self.client.api.service_logs(service_id, stdout=True, stderr=True, follow=False)
                lines = b"".join(raw).decode("utf-8", "replace").splitlines()
            except APIError:
                lines = []
            for line in lines[seen:]:
                tail.append(line)
                del tail[:-200]
                if on_line:
                    on_line(line)
            seen = max(seen, len(lines))
            if state in _JOB_ENDED:
                return state, status
            if state in (None, "new", "pending", "assigned") and time.monotonic() - started > PLACEMENT_TIMEOUT:
                raise RuntimeFailure("Job %s was not started by any node within %ds: %s" % (
                    name, PLACEMENT_TIMEOUT, status.get("Err") or status.get("Message") or state))
            if time.monotonic() > deadline:
                raise RuntimeFailure("Job %s did not end within %ds (its task is %s)." % (name, timeout, state))
            time.sleep(1)

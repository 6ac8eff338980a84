"""Commands in a swarm unit (services/swarm_engine.py): a shell, its last
health check. A unit's task runs on one node of the swarm, and only that
node's engine knows its container: the manager's engine where the task
runs on the manager's node, else the node's own engine, whose endpoint
(the Docker endpoint on its ops.host.node record) the engine is given by
host name (``nodes``). An exec made on a node's engine is started, sized
and read there.
"""

from docker.errors import APIError, NotFound

from .docker_engine import DockerEngine
from .runtime import RuntimeFailure


class SwarmExec:
    def __init__(self, base_url=None, timeout=900, nodes=None):
        super().__init__(base_url, timeout=timeout)
        self.node_endpoints = {name: url for name, url in (nodes or {}).items() if name and url}
        self._node_engines, self._exec_engines = {}, {}

    def node_engine(self, hostname):
        """The own engine of node ``hostname``, None when its endpoint is not known here."""
        url = self.node_endpoints.get(hostname)
        if not url:
            return None
        if hostname not in self._node_engines:
            try:
                self._node_engines[hostname] = DockerEngine(url, timeout=60)
            except RuntimeFailure as exc:
                raise RuntimeFailure("The engine of node %s does not answer: %s" % (hostname, exc)) from exc
        return self._node_engines[hostname]

    def _task_engine(self, container_id, hostname):
        """The engine that runs task container ``container_id`` on node
        ``hostname``: this one, else that node's own; None when neither knows it."""
        for engine in (self, self.node_engine(hostname)):
            if engine is None:
                continue
            try:
                engine.client.api.inspect_container(container_id)
                return engine
            except NotFound:
                continue
            except APIError as exc:
                raise RuntimeFailure("Cannot read container %s on node %s: %s" % (
                    container_id[:12], hostname, exc.explanation or exc)) from exc
        return None

    def _exec_target(self, ref):
        """(the engine running unit ``ref``'s task, its task's container);
        (this engine, ``ref``) for a plain container."""
        service = self._service(ref)
        if service is None:
            return self, ref
        info = self.container(service.id)
        if info["status"] != "running" or not info["task_container"]:
            raise RuntimeFailure("Service %s is not running (%s)." % (service.name, info["status"]))
        engine = self._task_engine(info["task_container"], info["node"])
        if engine is None:
            raise RuntimeFailure("Service %s runs on node %s, whose own Docker engine is not known here: give that "
                                 "node its Docker endpoint (Ops > Configuration > Swarm nodes)." % (
                                     service.name, info["node"]))
        return engine, info["task_container"]

    def exec_create(self, ref, argv, stdin=False, tty=False, environment=None):
        engine, target = self._exec_target(ref)
        if engine is self:
            return super().exec_create(target, argv, stdin=stdin, tty=tty, environment=environment)
        exec_id = engine.exec_create(target, argv, stdin=stdin, tty=tty, environment=environment)
        self._exec_engines[exec_id] = engine  # its start, size and state are that engine's
        return exec_id

    def exec_attach(self, exec_id, tty=False):
        engine = self._exec_engines.get(exec_id)
        return engine.exec_attach(exec_id, tty=tty) if engine else super().exec_attach(exec_id, tty=tty)

    def exec_resize(self, exec_id, rows, cols):
        engine = self._exec_engines.get(exec_id)
        return engine.exec_resize(exec_id, rows, cols) if engine else super().exec_resize(exec_id, rows, cols)

    def exec_state(self, exec_id):
        engine = self._exec_engines.get(exec_id)
        return engine.exec_state(exec_id) if engine else super().exec_state(exec_id)

    def exec_run(self, ref, argv):
        engine, target = self._exec_target(ref)
        return super().exec_run(target, argv) if engine is self else engine.exec_run(target, argv)

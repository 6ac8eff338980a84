"""The Docker engine, through the docker SDK (never the CLI, never a shell).

The ``docker`` backend of the runtime interface (services/runtime.py): the
one module that speaks to the SDK. Plain values in and out. Everything it
creates carries labels (``ipai-ops.*``, ``runtime.labels_for``) that name the
project, environment and run, so cleanup can find what no environment owns
any more.
"""

import logging

import docker
from docker.errors import APIError, BuildError, ImageNotFound, NotFound
from docker.types import IPAMConfig, IPAMPool

from . import image_copy
from .docker_trees import DockerTrees
from .runtime import LABEL_PREFIX, Runtime, RuntimeFailure, labels_for, owner_labels  # noqa: F401 - its names

_logger = logging.getLogger(__name__)
DockerError = RuntimeFailure  # a Docker failure with a message fit for a run's error


class DockerEngine(DockerTrees, Runtime):
    kind = "docker"

    def __init__(self, base_url=None, timeout=900):
        self._memory_mb = None  # the machine's memory, read once (stats)
        try:
            self.client = docker.DockerClient(base_url=base_url or "unix:///var/run/docker.sock", timeout=timeout)
            self.client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means no usable engine
            raise DockerError("Docker engine not reachable at %s: %s" % (base_url or "the local socket", exc)) from exc

    # ------------------------------------------------------------------
    # images
    # ------------------------------------------------------------------
    def image_id(self, ref):
        """The image id (sha256:...) of ``ref``, or None."""
        try:
            return self.client.images.get(ref).id
        except ImageNotFound:
            return None

    def image_labels(self, ref):
        """The labels of image ``ref`` ({} when it is not here)."""
        try:
            return dict(self.client.images.get(ref).labels or {})
        except ImageNotFound:
            return {}

    def build(self, context_dir, tag, labels=None, buildargs=None, on_line=None, network_mode="none"):
        """Build ``context_dir`` (with its Dockerfile) as ``tag``; stream the
        output to ``on_line``; return the image id. ``network_mode``: the
        network its RUN steps have (a network's name, or ``none``; never
        the host's)."""
        if network_mode == "host":
            raise DockerError("Refusing to build %s on the host's network." % tag)
        image_id = None
        try:
            stream = self.client.api.build(path=context_dir, tag=tag, labels=labels or {}, buildargs=buildargs or {},
                                           rm=True, forcerm=True, decode=True, network_mode=network_mode)
            for chunk in stream:
                if "error" in chunk:
                    raise DockerError("image build failed: %s" % chunk["error"].strip())
                if "stream" in chunk and on_line:
                    for line in chunk["stream"].splitlines():
                        if line.strip():
                            on_line(line)
                aux = chunk.get("aux") or {}
                if aux.get("ID"):
                    image_id = aux["ID"]
        except (APIError, BuildError) as exc:
            raise DockerError("image build failed: %s" % exc) from exc
        return image_id or self.image_id(tag)

    def remove_image(self, ref):
        try:
            self.client.images.remove(ref, force=True, noprune=False)
            return True
        except ImageNotFound:
            return False
        except APIError as exc:
            _logger.warning("ops: could not remove image %s: %s", ref, exc)
            return False

    def images(self, labels):
        filters = {"label": ["%s=%s" % (k, v) for k, v in labels.items()]}
        return [{"id": image.id, "tags": image.tags, "labels": image.labels or {}}
                for image in self.client.images.list(filters=filters)]

    def copy_image(self, ref, other, whole=False):
        """Copy image ``ref`` onto another engine (a swarm node's) unless it
        has it already: how images reach the nodes without a registry
        (streamed engine to engine, never through a file), minus the layers
        the other engine has (services/image_copy.py; ``whole``: every
        layer, as ``docker save | docker load`` sends it). False when it
        was there, else {sent, size}: the bytes sent, those of the image."""
        try:
            image = self.client.images.get(ref)
        except ImageNotFound as exc:
            raise RuntimeFailure("No image %s here to copy." % ref) from exc
        if other.image_id(ref) == image.id:
            return False
        layers = (image.attrs.get("RootFS") or {}).get("Layers") or []
        try:
            theirs = [(found.attrs.get("RootFS") or {}).get("Layers") for found in other.client.images.list()]
        except APIError as exc:
            raise RuntimeFailure("Cannot list the node's images: %s" % (exc.explanation or exc)) from exc
        drop = set() if whole else image_copy.droppable(layers, image_copy.layers_there(theirs, layers))
        try:
            return self._send_image(image, ref, other, drop)
        except RuntimeFailure as exc:
            if not drop:
                raise
            _logger.warning("ops: image %s without the %d layers the node has did not load (%s); sending it whole",
                            ref, len(drop), exc)
            return self._send_image(image, ref, other, set())

    def _send_image(self, image, ref, other, drop):
        """``image`` streamed into the other engine without the layers in ``drop``."""
        stats = {}
        try:
            other.client.images.load(image_copy.without_layers(image.save(named=True), drop, stats))
        except Exception as exc:  # noqa: BLE001 - the engine's or the stream's failure, said on the run
            raise RuntimeFailure("Cannot copy image %s to the node: %s" % (
                ref, getattr(exc, "explanation", None) or exc)) from exc
        if other.image_id(ref) != image.id:
            raise RuntimeFailure("Image %s did not arrive whole on the node." % ref)
        return {"sent": stats["sent"], "size": stats["read"]}

    # ------------------------------------------------------------------
    # containers
    # ------------------------------------------------------------------
    def _create(self, image, command, name, labels, environment=None, volumes=None, network=None, ip=None,
                mem_limit=None, nano_cpus=None, user=None, entrypoint=None, restart_policy=None, hostname=None):
        """``network``: the name of the network the container joins (at
        ``ip`` when given), or ``none`` for no network at all. Never the
        host's: a container on it would reach everything the host listens on."""
        if not network or network == "host":
            raise DockerError("Refusing to create container %s without a network of its own (never the host's)."
                              % name)
        kwargs = {
            "image": image, "command": command, "name": name, "labels": labels, "environment": environment or {},
            "volumes": volumes or {}, "detach": True, "user": user,
        }
        if network == "none":
            kwargs["network_mode"] = "none"
        else:
            kwargs["network"] = network
            if ip:
                kwargs["networking_config"] = {network: self.client.api.create_endpoint_config(ipv4_address=ip)}
        if hostname:
            kwargs["hostname"] = hostname
        if entrypoint:
            kwargs["entrypoint"] = entrypoint
        if restart_policy:
            kwargs["restart_policy"] = restart_policy
        if mem_limit:
            kwargs["mem_limit"] = mem_limit
        if nano_cpus:
            kwargs["nano_cpus"] = int(nano_cpus)
        try:
            return self.client.containers.create(**kwargs)
        except (APIError, ImageNotFound) as exc:
            raise DockerError("cannot create container %s: %s" % (name, exc)) from exc

    def run_to_completion(self, image, command, name, labels, on_line=None, timeout=3600, **kwargs):
        """Run a one-shot container, stream its output, remove it; return
        (exit_code, last_lines)."""
        self.remove_container(name, expect_labels=owner_labels(labels))
        container = self._create(image, command, name, labels, **kwargs)
        tail = []
        try:
            container.start()
            for raw in container.logs(stream=True, follow=True):
                for line in raw.decode("utf-8", "replace").splitlines():
                    tail.append(line)
                    del tail[:-200]
                    if on_line:
                        on_line(line)
            result = container.wait(timeout=timeout)
            return int(result.get("StatusCode", 1)), tail
        except APIError as exc:
            raise DockerError("container %s failed: %s" % (name, exc)) from exc
        finally:
            self.remove_container(container.id)

    def start(self, image, command, name, labels, **kwargs):
        """Start a long-running container; return its id."""
        self.remove_container(name, expect_labels=owner_labels(labels))
        container = self._create(image, command, name, labels, **kwargs)
        try:
            container.start()
        except APIError as exc:
            self.remove_container(container.id)
            raise DockerError("cannot start container %s: %s" % (name, exc)) from exc
        return container.id

    def container(self, ref):
        """{'id', 'name', 'status', 'labels', 'exit_code', 'oom_killed',
        'started_at', 'finished_at', 'network_mode', 'image' (its id), 'networks' ({name: address})}
        of a container, or None. The times are Docker's (RFC 3339, UTC;
        '0001-...' when it never happened)."""
        try:
            c = self.client.containers.get(ref)
        except NotFound:
            return None
        state = c.attrs.get("State") or {}
        networks = (c.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        return {"id": c.id, "name": c.name, "status": c.status, "labels": c.labels or {},
                "exit_code": state.get("ExitCode"), "oom_killed": bool(state.get("OOMKilled")),
                "started_at": state.get("StartedAt"), "finished_at": state.get("FinishedAt"),
                "network_mode": (c.attrs.get("HostConfig") or {}).get("NetworkMode"), "image": c.attrs.get("Image"),
                "networks": {name: (value or {}).get("IPAddress") or None for name, value in networks.items()}}

    def logs(self, ref, tail=200):
        try:
            return self.client.containers.get(ref).logs(tail=tail).decode("utf-8", "replace").splitlines()
        except NotFound:
            return []

    def stats(self, ref):
        try:
            raw = self.client.api.stats(ref, stream=False, one_shot=True)
        except (NotFound, APIError):
            return None
        memory, cpu = raw.get("memory_stats") or {}, (raw.get("cpu_stats") or {}).get("cpu_usage") or {}
        if not memory.get("usage") or not raw.get("pids_stats"):
            return None  # not running: Docker answers with empty figures
        kept = memory.get("stats") or {}
        inactive = kept.get("inactive_file", kept.get("total_inactive_file", 0))
        limit = memory.get("limit")
        if self._memory_mb is None:
            self._memory_mb = self.machine()[1]  # asked once per engine (a collection pass keeps one per node)
        if limit and limit >= self._memory_mb * 1024 * 1024:
            limit = None  # no limit of its own: Docker says the machine's memory
        return {"memory_bytes": max(0, memory["usage"] - inactive), "memory_limit_bytes": limit or None,
                "cpu_ns": cpu.get("total_usage") or 0, "oom_kills": None, "pids": []}

    def stop(self, ref, timeout=20):
        try:
            self.client.containers.get(ref).stop(timeout=timeout)
            return True
        except NotFound:
            return False

    def start_existing(self, ref):
        try:
            self.client.containers.get(ref).start()
            return True
        except NotFound:
            return False
        except APIError as exc:
            raise DockerError("cannot start container %s: %s" % (ref, exc)) from exc

    def remove_container(self, ref, expect_labels=None, wait=True):  # noqa: ARG002 - removed at once here
        """Remove a container (running or not); False when there is none.

        With ``expect_labels``, a container that does not carry all of them
        is refused with a :class:`DockerError`: it belongs to another
        environment or control plane, and removing it would be a mistake."""
        if not ref:
            return False
        try:
            container = self.client.containers.get(ref)
            if expect_labels:
                labels = container.labels or {}
                wrong = {k: labels.get(k) for k, v in expect_labels.items() if labels.get(k) != str(v)}
                if wrong:
                    raise DockerError("Refusing to remove container %s: its labels %s are not %s" % (
                        container.name, wrong, {k: expect_labels[k] for k in wrong}))
            container.remove(force=True, v=True)
            return True
        except NotFound:
            return False

    def containers(self, labels, all=True):  # noqa: A002 - mirrors the SDK
        filters = {"label": ["%s=%s" % (k, v) for k, v in labels.items()]}
        return [{"id": c.id, "name": c.name, "status": c.status, "labels": c.labels or {}}
                for c in self.client.containers.list(all=all, filters=filters, ignore_removed=True)]

    # ------------------------------------------------------------------
    # networks (services/env_network.py decides what they are)
    # ------------------------------------------------------------------
    @staticmethod
    def _network_info(attrs):
        config = ((attrs.get("IPAM") or {}).get("Config") or [{}])[0]
        return {"name": attrs["Name"], "id": attrs["Id"], "subnet": config.get("Subnet"),
                "gateway": config.get("Gateway"), "internal": bool(attrs.get("Internal")),
                "labels": attrs.get("Labels") or {}, "containers": sorted((attrs.get("Containers") or {}).keys())}

    def network(self, name):
        """{name, id, subnet, gateway, internal, labels, containers (ids)} of a network, or None."""
        try:
            return self._network_info(self.client.networks.get(name, verbose=True).attrs)
        except NotFound:
            return None
        except APIError as exc:
            if "ambiguous" in str(exc):
                ids = [net.id[:12] for net in self.client.networks.list(names=[name]) if net.name == name]
                raise DockerError("%d networks are named %s (%s), made at once on this engine: remove the one "
                                  "nothing is attached to (docker network rm ID)" % (len(ids), name, ", ".join(ids))
                                  ) from exc
            raise DockerError("Cannot read network %s: %s" % (name, exc)) from exc

    def network_names(self, labels=None):
        """The names of the networks carrying ``labels`` (a value of None: the label, whatever its value)."""
        filters = {"label": [k if v is None else "%s=%s" % (k, v) for k, v in (labels or {}).items()]}
        return [net.name for net in self.client.networks.list(filters=filters if labels else None)]

    def subnets_in_use(self):
        """Every subnet of every network on the engine (strings)."""
        return [config.get("Subnet") for net in self.client.networks.list()
                for config in ((net.attrs.get("IPAM") or {}).get("Config") or []) if config.get("Subnet")]

    def create_network(self, name, labels, subnet, gateway, ip_range, internal=False, options=None):
        """A bridge network on ``subnet``; Docker gives out addresses in ``ip_range``."""
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=gateway, iprange=ip_range)])
        try:
            self.client.networks.create(name, driver="bridge", internal=internal, labels=labels, ipam=ipam,
                                        check_duplicate=True, options=options or {})
        except APIError as exc:
            raise DockerError("Cannot create network %s: %s" % (name, exc)) from exc

    def connect_network(self, ref, name, ip=None):
        """Attach running unit ``ref`` to network ``name`` (at ``ip``)."""
        try:
            self.client.networks.get(name).connect(ref, ipv4_address=ip)
        except (APIError, NotFound) as exc:
            raise DockerError("Cannot attach %s to network %s: %s" % (ref, name, exc)) from exc

    def disconnect_network(self, ref, name):
        """Detach ``ref`` from network ``name``; False when it was not attached (or either is gone)."""
        try:
            self.client.networks.get(name).disconnect(ref, force=True)
            return True
        except NotFound:
            return False
        except APIError as exc:
            if "is not connected" in str(exc):
                return False
            raise DockerError("Cannot detach %s from network %s: %s" % (ref, name, exc)) from exc

    def remove_network(self, name):
        """False when it is not there, a DockerError when something is still attached."""
        try:
            self.client.networks.get(name).remove()
            return True
        except NotFound:
            return False
        except APIError as exc:
            raise DockerError("Cannot remove network %s: %s" % (name, exc)) from exc

    # ------------------------------------------------------------------
    # commands in a running container (shells: services/shell_session.py)
    # ------------------------------------------------------------------
    def exec_create(self, ref, argv, stdin=False, tty=False, environment=None):
        """Prepare ``argv`` in running container ``ref``; return the exec's id."""
        try:
            return self.client.api.exec_create(ref, argv, stdin=stdin, tty=tty, environment=environment)["Id"]
        except (APIError, NotFound) as exc:
            raise DockerError("cannot run a command in container %s: %s" % (ref, exc)) from exc

    def exec_attach(self, exec_id, tty=False):
        """Start the exec; return the raw socket of its input and output."""
        sock = self.client.api.exec_start(exec_id, tty=tty, socket=True)
        return getattr(sock, "_sock", sock)

    def exec_run(self, ref, argv):
        """Run ``argv`` in container ``ref`` to its end."""
        self.client.api.exec_start(self.exec_create(ref, argv))

    def exec_resize(self, exec_id, rows, cols):
        self.client.api.exec_resize(exec_id, height=rows, width=cols)

    def exec_state(self, exec_id):
        """{"running", "exit_code"} of an exec; a DockerError when its container is gone."""
        try:
            info = self.client.api.exec_inspect(exec_id)
        except (APIError, NotFound) as exc:
            raise DockerError("exec %s is gone: %s" % (exec_id, exc)) from exc
        return {"running": bool(info.get("Running")), "exit_code": info.get("ExitCode")}

    # ------------------------------------------------------------------
    # the machine and its events (capacity, monitoring)
    # ------------------------------------------------------------------
    def machine(self):
        """(CPUs, memory in MB) of the machine behind the engine."""
        info = self.client.info()
        return info.get("NCPU") or 1, (info.get("MemTotal") or 0) // (1024 * 1024)

    def events(self, since, until, actions, labels):
        """The containers' events ``actions`` (die, oom, ...) between two
        times (seconds), of containers carrying ``labels``: [{"action",
        "time", "container" (its id), "labels" (its attributes: labels, exitCode)}]."""
        found = self.client.events(since=int(since), until=int(until), decode=True, filters={
            "type": "container", "event": list(actions), "label": ["%s=%s" % kv for kv in labels.items()]})
        actors = [(event, event.get("Actor") or {}) for event in found]
        return [{"action": event.get("Action"), "time": event.get("time"), "container": actor.get("ID"),
                 "labels": actor.get("Attributes") or {}} for event, actor in actors]

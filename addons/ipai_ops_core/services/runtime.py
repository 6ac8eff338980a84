"""The runtime interface: what runs environments' images, one-shot
commands, serving units, networks and shells.

Executors, models and controllers never speak to an engine's SDK: they get
a backend from ``connect`` (an ``ops.host`` record's engine) or ``for_spec``
(a run's), and call the methods of :class:`Runtime` below. Plain values in
and out, like every service; a failure is a :class:`RuntimeFailure` whose
message is fit for a run's error.

Backends, chosen per host record:

- ``docker``: plain containers on one Docker engine (services/docker_engine.py);
- ``swarm``: Docker Swarm services on the nodes of a swarm, through one of
  its managers (services/swarm_engine.py).

The interface is kept narrow enough for another orchestrator: a Kubernetes
backend would map an image build to a build job pushing to a registry, a
one-shot command to a Job, a serving unit to a Deployment of one replica
with its Service, a network to a namespace with NetworkPolicies, a shell to
the exec subresource, events to the API's watch (README: "More than one
machine").
"""

import abc

KINDS = ("docker", "swarm")


class RuntimeFailure(Exception):
    """A failure of the engine, with a message fit for a run's error."""


LABEL_PREFIX = "ipai-ops."


def labels_for(plane, project=None, environment=None, run=None, role=None):
    """The labels of everything made for a project / environment / run.

    ``plane`` identifies the control plane (its namespace): several
    control planes may share one Docker engine, and each cleans up only
    what it made."""
    labels = {LABEL_PREFIX + "managed": "true", LABEL_PREFIX + "plane": str(plane)}
    for key, value in (("project", project), ("environment", environment), ("run", run), ("role", role)):
        if value not in (None, False, ""):
            labels[LABEL_PREFIX + key] = str(value)
    return labels


def owner_labels(labels):
    """The labels that say whose a unit is: its control plane and environment."""
    return {k: v for k, v in (labels or {}).items() if k in (LABEL_PREFIX + "plane", LABEL_PREFIX + "environment")}


class Runtime(abc.ABC):
    """What a backend provides. ``ref`` is a serving unit's or a one-shot
    command's id or name; ``labels`` are ``labels_for``'s."""

    kind = None

    # images
    @abc.abstractmethod
    def image_id(self, ref):
        """The image's id, or None when it is not there."""

    @abc.abstractmethod
    def image_labels(self, ref):
        """The image's labels ({} when it is not there)."""

    @abc.abstractmethod
    def build(self, context_dir, tag, labels=None, buildargs=None, on_line=None, network_mode="none"):
        """Build ``context_dir`` as ``tag`` (never on the host's network); its id."""

    @abc.abstractmethod
    def copy_image(self, ref, other):
        """Copy an image onto another backend's engine unless it is there:
        False when it was, else {sent, size} (bytes sent, bytes of the image)."""

    @abc.abstractmethod
    def remove_image(self, ref):
        """True when removed."""

    @abc.abstractmethod
    def images(self, labels):
        """[{id, tags, labels}] of the images carrying ``labels``."""

    # one-shot commands and serving units
    @abc.abstractmethod
    def run_to_completion(self, image, command, name, labels, on_line=None, timeout=3600, **placement):
        """Run a command to its end, streaming its output; (exit code, last lines)."""

    @abc.abstractmethod
    def start(self, image, command, name, labels, **placement):
        """Start a long-running unit (network, address, volumes, limits in ``placement``); its id."""

    @abc.abstractmethod
    def container(self, ref):
        """{id, name, status, labels, exit_code, oom_killed, started_at, finished_at,
        network_mode, image, networks} of a unit, or None."""

    @abc.abstractmethod
    def containers(self, labels, all=True):  # noqa: A002 - the engines' word
        """[{id, name, status, labels}] of the units carrying ``labels``."""

    @abc.abstractmethod
    def logs(self, ref, tail=200):
        """The unit's last output lines."""

    @abc.abstractmethod
    def stats(self, ref):
        """{memory_bytes (without the page cache it can drop), memory_limit_bytes
        (None: unlimited), cpu_ns (cumulative), oom_kills (None: the engine does
        not say), pids: []} of a running container, as its own engine reads its
        cgroup, or None when it does not run: how a unit on another machine is
        measured (the collector reads local cgroups directly)."""

    @abc.abstractmethod
    def stop(self, ref, timeout=20):
        """False when there is no such unit."""

    @abc.abstractmethod
    def start_existing(self, ref):
        """Start a stopped unit again; False when there is no such unit."""

    @abc.abstractmethod
    def remove_container(self, ref, expect_labels=None, wait=True):
        """Remove a unit; refused unless it carries ``expect_labels``; False when there is none.
        ``wait``: return once its containers are gone (what comes next may need that: its network's removal);
        without it, a backend whose removal ends later (Swarm stops the task after) returns at once."""

    # networks
    @abc.abstractmethod
    def network(self, name):
        """{name, id, subnet, gateway, internal, labels, containers} or None."""

    @abc.abstractmethod
    def network_names(self, labels=None):
        """Names of the networks carrying ``labels``."""

    @abc.abstractmethod
    def subnets_in_use(self):
        """Every subnet the engine's networks hold."""

    @abc.abstractmethod
    def create_network(self, name, labels, subnet, gateway, ip_range, internal=False, options=None):
        """A network of its own on ``subnet``."""

    @abc.abstractmethod
    def connect_network(self, ref, name, ip=None):
        """Attach a running unit to a network (at ``ip``)."""

    @abc.abstractmethod
    def disconnect_network(self, ref, name):
        """Detach it; False when it was not attached."""

    @abc.abstractmethod
    def remove_network(self, name):
        """False when it is not there; a failure when something is still attached."""

    # commands in a running unit (shells)
    @abc.abstractmethod
    def exec_create(self, ref, argv, stdin=False, tty=False, environment=None):
        """Prepare a command in a running unit; its id."""

    @abc.abstractmethod
    def exec_attach(self, exec_id, tty=False):
        """Start it; the socket of its input and output."""

    @abc.abstractmethod
    def exec_run(self, ref, argv):
        """Run a command in a running unit to its end."""

    @abc.abstractmethod
    def exec_resize(self, exec_id, rows, cols):
        """The terminal's size."""

    @abc.abstractmethod
    def exec_state(self, exec_id):
        """{running, exit_code}; a failure when its unit is gone."""

    # the machine
    @abc.abstractmethod
    def machine(self):
        """(CPUs, memory in MB)."""

    @abc.abstractmethod
    def events(self, since, until, actions, labels):
        """[{action, time, container, labels}] of units carrying ``labels``."""


def connect(url=None, kind="docker", timeout=900, nodes=None):
    """The backend ``kind`` at ``url`` (None: this machine's engine);
    ``nodes`` ({host name: endpoint}): a swarm's nodes' own engines."""
    if kind not in KINDS:
        raise RuntimeFailure("Unknown runtime %r: one of %s." % (kind, ", ".join(KINDS)))
    if kind == "swarm":
        from .swarm_engine import SwarmEngine  # noqa: PLC0415 - the backends import this module

        return SwarmEngine(url, timeout=timeout, nodes=nodes)
    from .docker_engine import DockerEngine  # noqa: PLC0415 - the backends import this module

    return DockerEngine(url, timeout=timeout)


def for_spec(spec, timeout=900):
    """The backend of a run's host (its spec's ``docker_url``, ``runtime_kind`` and ``node_endpoints``)."""
    return connect(spec.get("docker_url"), spec.get("runtime_kind") or "docker", timeout=timeout,
                   nodes=spec.get("node_endpoints"))

"""How images reach a swarm's nodes: there is no registry (none can be
pulled here, and air-gapped users have none), so an image is streamed from
the manager's engine to a node's own engine, the endpoint recorded on the
node (ops.host.node), once, when a unit or the nodes' guard needs it there;
without the layers the node has (services/image_copy.py): a new build's
code, not the Odoo runtime under it.
"""

import logging

from ..services import runtime
from ..services.runtime import RuntimeFailure
from .base import RunFailed

_logger = logging.getLogger(__name__)


def copy_to_node(spec, engine, image, node, reporter=None):
    """``image`` onto ``node`` through the node's own engine (its Docker
    endpoint on the node's record: there is no registry), unless it is
    there. Without an endpoint the node must have it already: Swarm then
    says so when the unit cannot start."""
    url = (spec.get("node_engines") or {}).get(node)
    if not url:
        return False
    try:
        copied = engine.copy_image(image, runtime.connect(url, timeout=900))
    except RuntimeFailure as exc:
        raise RunFailed("Image %s cannot reach node %s (%s): %s" % (image[:19], node, url, exc)) from exc
    if copied and reporter:
        reporter.log("info", "Copied image %s to node %s (%s)" % (image[:19], node, _sent(copied)))
    return copied


def _sent(copied):
    """What a copy sent, against the image's size: the node's layers stay home."""
    sent, size = copied["sent"], copied["size"]
    if sent >= size:
        return "%s, whole" % _mb(size)
    return "%s of %s sent: the node had the rest" % (_mb(sent), _mb(size))


def _mb(size):
    return "%.1f MB" % (size / 1e6)


def copy_to_nodes(spec, engine, image, only=None, nodes=None):
    """``image`` onto every node whose engine the platform knows and answers
    (the nodes' guard runs on every node; a node that is down gets it when
    it is back), or only onto the nodes named in ``only`` (``nodes``: the
    swarm's nodes as the caller read them). Returns {node: None when it
    has it now, else why not}."""
    wanted = spec.get("node_engines") or {}
    if only is not None:
        wanted = {node: url for node, url in wanted.items() if node in only}
    if not wanted:
        return {}
    ready = {node["name"] for node in (engine.nodes() if nodes is None else nodes) if node["state"] == "ready"}
    found = {}
    for node in sorted(wanted):
        if node not in ready:
            found[node] = "the node is not ready"
            continue
        try:
            copy_to_node(spec, engine, image, node)
            found[node] = None
        except RunFailed as exc:
            _logger.warning("%s", exc)
            found[node] = str(exc)
    return found

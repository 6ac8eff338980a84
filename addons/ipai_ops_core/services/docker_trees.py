"""A directory of one engine's machine copied to another engine's machine
(services/docker_engine.py): what moves an environment's data directory
between nodes that do not share a disk.

Neither machine's files are reached by the platform itself: each engine
mounts the directory into a helper container it creates and never starts
(Docker reads and writes a created container's mounts), the first sends
the directory as a tar stream, the second unpacks that stream as it comes.
Docker keeps each file's owner, mode and times from the stream when it
unpacks (the API's default; only ``docker cp`` without ``-a`` makes root
the owner), so the environment's Odoo user still owns its files.
"""

import contextlib
import time

from docker.errors import APIError, NotFound
from docker.types import Mount

from .runtime import RuntimeFailure

MOUNT = "/ipai-ops-tree"
CHUNK = 1024 * 1024


class DockerTrees:
    def _tree_helper(self, image, path, labels, read_only):
        """A created, never started container of ``image`` with directory
        ``path`` of this engine's machine mounted at MOUNT: read only, and
        then it must exist, else made by the engine when missing."""
        mount = {"mounts": [Mount(MOUNT, path, type="bind", read_only=True)]} if read_only else {
            "volumes": {path: {"bind": MOUNT, "mode": "rw"}}}
        try:
            return self.client.containers.create(
                image, ["true"], name="ipai-ops-tree-%d" % time.monotonic_ns(), labels=labels, network_mode="none",
                entrypoint=[], **mount)
        except APIError as exc:
            raise RuntimeFailure("Cannot mount %s on its engine (image %s): %s" % (
                path, image[:19], exc.explanation or exc)) from exc

    def copy_tree(self, image, source, target_engine, target, labels):
        """Copy directory ``source`` of this engine's machine into directory
        ``target`` of ``target_engine``'s machine (made when missing; files
        already there and not in ``source`` stay), owners and modes kept.
        ``image`` (any image with a root file system) must be on both
        engines. Returns the bytes streamed."""
        reader = self._tree_helper(image, source, labels, read_only=True)
        writer = None
        try:
            writer = target_engine._tree_helper(image, target, labels, read_only=False)
            # the directory itself (its entry carries its owner and mode), unpacked onto the other mount
            stream, _stat = self.client.api.get_archive(reader.id, MOUNT, chunk_size=CHUNK)
            sent = [0]

            def counted():
                for chunk in stream:
                    sent[0] += len(chunk)
                    yield chunk

            if not target_engine.client.api.put_archive(writer.id, "/", counted()):
                raise RuntimeFailure("The engine of %s did not unpack the copy of %s." % (target, source))
            return sent[0]
        except (APIError, NotFound) as exc:
            raise RuntimeFailure("Cannot copy %s to %s: %s" % (source, target, getattr(exc, "explanation", None)
                                                               or exc)) from exc
        finally:
            for engine, helper in ((self, reader), (target_engine, writer)):
                if helper is not None:
                    with contextlib.suppress(APIError, NotFound):  # gone already
                        engine.client.api.remove_container(helper.id, force=True)

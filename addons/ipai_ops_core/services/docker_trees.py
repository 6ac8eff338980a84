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

A file a process appends to (an environment's Odoo log on a node with a
disk of its own) is taken in pieces the same way: ``take_file``.
"""

import contextlib
import io
import os
import tarfile
import threading
import time

from docker.errors import APIError, NotFound
from docker.types import Mount

from .runtime import RuntimeFailure

MOUNT = "/ipai-ops-tree"
CHUNK = 1024 * 1024
# In a helper, as the image's user (Odoo's, who owns the files): file NAME
# renamed NAME.<LAST+1> (its writer opens a new NAME: Odoo's log handler
# watches the path), unless that piece is still there (not kept yet); the
# piece LAST, kept by the caller, removed.
TAKE = """import os, sys
folder, name, last = sys.argv[1], sys.argv[2], int(sys.argv[3])
path = os.path.join(folder, name)
try:
    os.unlink("%s.%d" % (path, last))
except FileNotFoundError:
    pass
if not os.path.exists("%s.%d" % (path, last + 1)):
    try:
        os.rename(path, "%s.%d" % (path, last + 1))
    except FileNotFoundError:
        pass
"""


class MissingTree(RuntimeFailure):
    """The directory to copy is not there (a database that never stored an attachment has no filestore)."""


class _Chunks(io.RawIOBase):
    """A readable file over an iterator of byte strings (an engine's tar stream)."""

    def __init__(self, chunks):
        super().__init__()
        self._chunks, self._rest = iter(chunks), b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size], self._rest = self._rest[:size], self._rest[size:]
        return size


class _Without:
    """Tar stream ``chunks`` without the members ``skip`` names, streamed:
    a thread re-writes the archive member by member (headers with their
    owners, modes and links as they were) into a pipe this iterates."""

    def __init__(self, chunks, skip):
        self._read, write = os.pipe()
        self._failed = []
        self._thread = threading.Thread(target=self._filter, args=(chunks, skip, write), daemon=True)
        self._thread.start()

    def _filter(self, chunks, skip, write):
        try:
            with os.fdopen(write, "wb") as sink, \
                    tarfile.open(fileobj=io.BufferedReader(_Chunks(chunks), CHUNK), mode="r|") as source, \
                    tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as out:
                for member in source:
                    if not skip(member.name):
                        out.addfile(member, source.extractfile(member) if member.isreg() else None)
        except Exception as exc:  # noqa: BLE001 - raised again by the reader
            self._failed.append(exc)

    def __iter__(self):
        with os.fdopen(self._read, "rb") as pipe:  # closed early: the writer thread stops on a broken pipe
            while chunk := pipe.read(CHUNK):
                yield chunk
        self._thread.join()
        if self._failed:
            raise RuntimeFailure("The copy's archive could not be read: %s" % self._failed[0])


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
            said = str(exc.explanation or exc)
            if read_only and "bind source path does not exist" in said:
                raise MissingTree("%s is not on its engine's machine" % path) from exc
            raise RuntimeFailure("Cannot mount %s on its engine (image %s): %s" % (path, image[:19], said)) from exc

    def copy_tree(self, image, source, target_engine, target, labels, exclude=()):
        """Copy directory ``source`` of this engine's machine into directory
        ``target`` of ``target_engine``'s machine (made when missing; files
        already there and not in ``source`` stay), owners and modes kept,
        without the folders of it named in ``exclude``. ``image`` (any
        image with a root file system) must be on both engines. Returns the
        bytes streamed; MissingTree when ``source`` is not there."""
        top = MOUNT.strip("/")
        skipped = tuple("%s/%s" % (top, name) for name in exclude)
        reader = self._tree_helper(image, source, labels, read_only=True)
        writer = None
        try:
            writer = target_engine._tree_helper(image, target, labels, read_only=False)
            # the directory itself (its entry carries its owner and mode), unpacked onto the other mount
            stream, _stat = self.client.api.get_archive(reader.id, MOUNT, chunk_size=CHUNK)
            sent = [0]

            if skipped:
                stream = _Without(stream, lambda name: name.rstrip("/") in skipped or name.startswith(
                    tuple(folder + "/" for folder in skipped)))

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

    def take_file(self, image, directory, name, last, labels, timeout=120):
        """What was appended to file ``name`` of ``directory`` (of this
        engine's machine) since piece ``last`` was taken: a helper renames
        the file to ``name.<last+1>`` (see TAKE), its bytes are read, and
        the next take removes that piece (the caller kept it). Returns the
        bytes, or None when there was no file to take."""
        try:
            helper = self.client.containers.create(
                image, [MOUNT, name, str(int(last))], name="ipai-ops-take-%d" % time.monotonic_ns(), labels=labels,
                network_mode="none", entrypoint=["python3", "-c", TAKE],
                mounts=[Mount(MOUNT, directory, type="bind")])
        except APIError as exc:
            raise RuntimeFailure("Cannot mount %s on its engine (image %s): %s" % (
                directory, image[:19], exc.explanation or exc)) from exc
        try:
            helper.start()
            code = helper.wait(timeout=timeout).get("StatusCode")
            if code != 0:
                said = helper.logs(tail=3).decode("utf-8", "replace").strip().replace("\n", " / ")
                raise RuntimeFailure("Cannot take %s of %s (exit code %s): %s" % (name, directory, code, said))
            try:
                stream, _stat = self.client.api.get_archive(helper.id, "%s/%s.%d" % (MOUNT, name, int(last) + 1))
            except NotFound:
                return None
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                member = archive.next()
                return archive.extractfile(member).read() if member is not None and member.isreg() else b""
        except APIError as exc:
            raise RuntimeFailure("Cannot take %s of %s: %s" % (name, directory, exc.explanation or exc)) from exc
        finally:
            with contextlib.suppress(APIError, NotFound):  # gone already
                self.client.api.remove_container(helper.id, force=True)

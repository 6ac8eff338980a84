"""An image sent from one Docker engine to another without a registry,
minus the layers the receiving engine has already.

``docker save`` always writes every layer of an image, and a node that runs
a project's environments has its Odoo runtime (about 1.4 GB) from the first
copy on: what a new build adds is its code, a few megabytes. ``docker
load`` reads a layer's file only when the engine lacks that layer (it looks
the layer up by its chain first), so the archive sent to the node leaves out
the layers the node has. The image keeps its id: its configuration, which the
id is the digest of, is sent unchanged.

Which layers the node has: the longest run of the image's first layers that
an image on the node starts with (a layer only counts in its place in the
chain). In the archive, a layer is named by an id of Docker's, not by its
digest: the digest is computed while the layer streams past, and the layer
waits in a temporary file until it is known. Archives that name layers by
their digest (``blobs/sha256/<digest>``, Docker 25 and later) are filtered by
name. With nothing to leave out, the archive goes as the engine wrote it.
Should the receiving engine refuse the smaller archive, the whole image is
sent instead (``DockerEngine.copy_image``).
"""

import hashlib
import itertools
import tarfile
import tempfile

BLOCK = tarfile.BLOCKSIZE
CHUNK = 1 << 20
LAYER_BLOB = "blobs/sha256/"


def layers_there(images, layers):
    """How many of ``layers`` (an image's layer digests, base first) the
    engine whose ``images`` (their layer lists) are given has, counted from
    the base: the longest prefix one of them starts with."""
    best = 0
    for theirs in images:
        count = 0
        for mine, other in zip(layers, theirs or (), strict=False):
            if mine != other:
                break
            count += 1
        best = max(best, count)
    return best


def droppable(layers, there):
    """The digests of the first ``there`` layers that the rest of the image
    does not use again (an empty layer's digest can come back higher up the
    chain: the archive has one file for both, which must then stay)."""
    return set(layers[:there]) - set(layers[there:])


class _Reader:
    """A file object over the chunks an engine's ``save`` yields (each read
    copies only what it returns; not a model, so no super call)."""

    def __init__(self, chunks):
        self._chunks, self._buffer, self._at = iter(chunks), b"", 0
        self.total = 0  # the bytes the engine sent so far

    def read(self, size=-1):  # pylint: disable=method-required-super
        parts = []
        while size:
            if self._at >= len(self._buffer):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buffer, self._at = chunk, 0
                self.total += len(chunk)
                continue
            end = len(self._buffer) if size < 0 else min(len(self._buffer), self._at + size)
            parts.append(self._buffer[self._at:end])
            size = size if size < 0 else size - (end - self._at)
            self._at = end
        return b"".join(parts)


def _padding(size):
    return b"\0" * (-size % BLOCK)


def _copy(source, size, digest=None):
    """``size`` bytes of ``source`` in chunks (fed to ``digest`` on the way)."""
    left = size
    while left:
        chunk = source.read(min(CHUNK, left))
        if not chunk:
            raise OSError("the image's archive ended inside a file")
        if digest is not None:
            digest.update(chunk)
        left -= len(chunk)
        yield chunk


def _spooled(spool, size):
    with spool:
        yield from _copy(spool, size)


def _body(member, data, drop):
    """The chunks of a file of the archive, or None for a layer left out
    (then read past)."""
    name = member.name
    if name.startswith(LAYER_BLOB) and "sha256:" + name[len(LAYER_BLOB):] in drop:
        for _chunk in _copy(data, member.size):
            pass
        return None
    if not name.endswith("/layer.tar"):
        return _copy(data, member.size)
    digest = hashlib.sha256()
    spool = tempfile.TemporaryFile(prefix="ipai-ops-layer-")
    for chunk in _copy(data, member.size, digest):
        spool.write(chunk)
    if "sha256:" + digest.hexdigest() in drop:
        spool.close()
        return None
    spool.seek(0)
    return _spooled(spool, member.size)


def without_layers(chunks, drop, stats):
    """The tar archive of ``docker save`` (``chunks``) streamed again,
    without the layer files whose digest is in ``drop`` (as it came when
    there is none). ``stats`` gets the bytes read and sent and the number of
    layers left out."""
    stats.update(read=0, sent=0, dropped=0)
    if not drop:
        for chunk in chunks:
            stats["read"] += len(chunk)
            stats["sent"] += len(chunk)
            yield chunk
        return
    source = _Reader(chunks)
    with tarfile.open(fileobj=source, mode="r|", bufsize=CHUNK) as archive:
        for member in archive:
            data = archive.extractfile(member) if member.isreg() else None
            body = () if data is None else _body(member, data, drop)
            if body is None:
                stats["dropped"] += 1
                continue
            pieces = [member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")]
            for piece in itertools.chain(pieces, body, [_padding(member.size)] if data is not None else ()):
                stats["sent"] += len(piece)
                yield piece
    stats["read"] = source.total
    stats["sent"] += 2 * BLOCK
    yield b"\0" * (2 * BLOCK)

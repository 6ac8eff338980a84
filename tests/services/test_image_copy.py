"""services/image_copy.py: what is left out of an image's archive when it
goes to a node that has some of its layers, on archives shaped like
``docker save``'s (layers named by Docker's ids, one linked to another when
two layers are the same; or named by their digest). The copy between two
real engines is tests/services/test_swarm_engine.py's."""

import hashlib
import io
import json
import tarfile

from odoo.addons.ipai_ops_core.services import image_copy


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _archive(files, links=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    raw = buf.getvalue()
    return [raw[i:i + 7000] for i in range(0, len(raw), 7000)]  # as an engine streams it, in chunks


def _read(chunks):
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isreg() else "-> " + m.linkname) for m in tar.getmembers()}


def test_a_node_has_the_layers_an_image_of_it_starts_with():
    assert image_copy.layers_there([["a", "b", "c"], ["a", "x"], None], ["a", "b", "d"]) == 2
    assert image_copy.layers_there([["b", "a"]], ["a", "b"]) == 0, "a layer counts in its place only"
    assert image_copy.layers_there([], ["a"]) == 0
    assert image_copy.droppable(["a", "b", "c"], 2) == {"a", "b"}
    assert image_copy.droppable(["e", "a", "e", "b"], 2) == {"a"}, "the empty layer is used again above"


def test_the_archive_goes_without_the_layers_the_node_has():
    base, runtime, code = b"base files" * 5000, b"odoo" * 20000, b"the branch's code"
    manifest = json.dumps([{"Config": "cfg.json", "Layers": ["l1/layer.tar", "l2/layer.tar", "l3/layer.tar",
                                                                "l4/layer.tar"]}]).encode()
    files = [("cfg.json", b"{}"), ("l1/VERSION", b"1.0"), ("l1/layer.tar", base), ("l2/layer.tar", runtime),
             ("l3/layer.tar", code), ("manifest.json", manifest)]
    chunks = _archive(files, links=[("l4/layer.tar", "../l1/layer.tar")])
    stats = {}
    sent = list(image_copy.without_layers(chunks, {_digest(runtime)}, stats))
    got = _read(sent)
    assert "l2/layer.tar" not in got and stats["dropped"] == 1, sorted(got)
    assert got["l1/layer.tar"] == base and got["l3/layer.tar"] == code and got["manifest.json"] == manifest
    assert got["l4/layer.tar"] == "-> ../l1/layer.tar" and got["l1/VERSION"] == b"1.0"
    assert stats["sent"] == len(b"".join(sent)) < stats["read"] - len(runtime) + 10_000, stats
    # nothing to leave out: the same files, whole
    stats = {}
    assert _read(image_copy.without_layers(chunks, set(), stats)) == _read(chunks) and stats["dropped"] == 0


def test_layers_named_by_their_digest_are_left_out_by_name():
    base, code = b"base" * 10000, b"code"
    chunks = _archive([("blobs/sha256/" + _digest(base)[7:], base), ("blobs/sha256/" + _digest(code)[7:], code),
                       ("index.json", b"{}")])
    stats = {}
    got = _read(image_copy.without_layers(chunks, {_digest(base)}, stats))
    assert sorted(got) == ["blobs/sha256/" + _digest(code)[7:], "index.json"] and stats["dropped"] == 1

"""The size of a filestore without a full walk each minute: Odoo stores
attachments as ``<filestore>/<2 hex>/<sha1>`` and never changes a file in
place, so a directory whose modification time did not change holds the
same files. ``measure`` rescans only the changed directories and returns
the new cache to keep for the next call."""

import os

from odoo.addons.ipai_ops_core.services.filestore import tree_size


def measure(path, cache=None):
    """(total bytes, cache {name: [mtime_ns, bytes]})."""
    cache = dict(cache or {})
    fresh, total = {}, 0
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return 0, {}
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            mtime = entry.stat(follow_symlinks=False).st_mtime_ns
            known = cache.get(entry.name)
            if known and known[0] == mtime:
                size = known[1]
            else:
                size = tree_size(entry.path)
            fresh[entry.name] = [mtime, size]
            total += size
        elif entry.is_file(follow_symlinks=False):
            total += entry.stat(follow_symlinks=False).st_size
    return total, fresh


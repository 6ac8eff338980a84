"""A module of this repository as it is now, or as it was at a git revision
(the baseline a replaced implementation is measured against, read from
git, never copied into the tree)."""

import importlib.util
import os
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name, path):
    """The Python file ``path`` imported as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def current(name, relative):
    return load(name, os.path.join(REPO, relative))


def at(rev, name, relative):
    """``relative`` (a path in the repository) as it was at ``rev``."""
    text = subprocess.run(["git", "-C", REPO, "show", "%s:%s" % (rev, relative)], check=True, capture_output=True,
                          text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name + ".py")
        with open(path, "w") as handle:
            handle.write(text)
        return load(name, path)

"""The Odoo versions the platform runs and upgrades between, and where each
version's source tree is (the runtime image is built from it)."""

import os
import re

VERSIONS = ("17.0", "18.0", "19.0")
SELECTION = [(version, version) for version in VERSIONS]

# The labels build_runtime_image.sh puts on a runtime image.
LABEL_VERSION = "ipai-ops.odoo.version"
LABEL_COMMIT = "ipai-ops.odoo.commit"
LABEL_SOURCE = "ipai-ops.odoo.source"


def check(version):
    """``version`` when the platform supports it; ValueError otherwise."""
    if version not in VERSIONS:
        raise ValueError("Unsupported Odoo version %r (supported: %s)." % (version, ", ".join(VERSIONS)))
    return version


def major(version):
    return int(check(version).split(".")[0])


def next_version(version):
    """The version an upgrade from ``version`` goes to (one major at a time), or None."""
    index = VERSIONS.index(check(version))
    return VERSIONS[index + 1] if index + 1 < len(VERSIONS) else None


def path(from_version, to_version):
    """The versions an upgrade passes through, one major at a time: 17.0 to
    19.0 is [18.0, 19.0]. ValueError when ``to_version`` is not ahead."""
    start, end = VERSIONS.index(check(from_version)), VERSIONS.index(check(to_version))
    if end <= start:
        raise ValueError("Odoo %s is not ahead of %s: an upgrade goes forward." % (to_version, from_version))
    return list(VERSIONS[start + 1:end + 1])


def manifest_version(series, version):
    """A manifest version as Odoo stores it: ``series.x.y.z`` (a bare ``1.0``
    gets the series in front)."""
    version = str(version or "1.0")
    return version if re.match(r"^\d+\.0\.", version) else "%s.%s" % (series, version)


def sources_root(configured, odoo_root):
    """Where the version trees are: the configured directory, or the parent of
    the control plane's own Odoo tree (its siblings: odoo-17.0, odoo-19.0)."""
    return configured or os.path.dirname(os.path.abspath(odoo_root))


def source_dir(root, version, odoo_root=None):
    """The tree of ``version``: ``<root>/odoo-<version>``; the control plane's
    own tree for its own version when that directory is not there."""
    candidate = os.path.join(root, "odoo-%s" % check(version))
    if not os.path.isdir(candidate) and odoo_root and version == "18.0":
        return os.path.abspath(odoo_root)
    return candidate


# OpenUpgrade's wheels (PyPI) for each target version, pinned to what the
# pinned Odoo trees can run: scripts newer than the tree reference records it
# lacks (measured on the 18.0 tree: 18.0.1.0.0.554 fails on base.XCG, .459 in
# payment, .457 passes; services/openupgrade.missing_references finds both).
# setup.sh downloads them into the OpenUpgrade directory; a preview installs them --no-deps into a directory of its own
# (they require an `odoo` distribution PyPI does not have). openupgradelib is
# what the scripts import, cssselect what it imports.
OPENUPGRADE = {
    "18.0": {"odoo-addon-openupgrade-scripts": "18.0.1.0.0.457", "odoo-addon-openupgrade-framework": "18.0.1.0.3.2",
             "openupgradelib": "3.13.7", "cssselect": "1.2.0"},
    # 19.0.1.0.0.407 fits the pinned 19.0 tree (March 2026 nightly): every record its scripts load is there.
    "19.0": {"odoo-addon-openupgrade-scripts": "19.0.1.0.0.407", "odoo-addon-openupgrade-framework": "19.0.1.0.0.6",
             "openupgradelib": "3.13.7", "cssselect": "1.2.0"},
}


def openupgrade_wheel(directory, version, package="odoo-addon-openupgrade-scripts"):
    """The path of the pinned wheel of ``package`` for target ``version`` in
    ``directory``, or None when none is pinned or it is not there."""
    pinned = OPENUPGRADE.get(version, {}).get(package)
    if not pinned:
        return None
    prefix = "%s-%s-" % (package.replace("-", "_"), pinned)
    try:
        names = sorted(name for name in os.listdir(directory) if name.startswith(prefix) and name.endswith(".whl"))
    except OSError:
        return None
    return os.path.join(directory, names[0]) if names else None

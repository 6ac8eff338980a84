"""Where an environment's and a run's files live: the one place that says so.

The spec gives the roots (``filestore_root``, ``work_root``,
``secrets_root``); every executor, the cleanup and destroy take their paths
from here.
"""

import os

from ..services import naming

ODOO_UID = 101  # user odoo in the runtime image (official layout)


def env_dir(spec, create=True):
    """The environment's data directory, mounted as /var/lib/odoo (it holds
    ``filestore/<database>`` for each of its databases)."""
    path = os.path.join(spec["filestore_root"], spec["project_slug"], "env-%d" % spec["environment_id"])
    if create:
        os.makedirs(os.path.join(path, "filestore"), exist_ok=True)
        for folder in (path, os.path.join(path, "filestore")):
            os.chown(folder, ODOO_UID, ODOO_UID)
    return path


def log_dirs(filestore_root, project_slug, environment_id):
    """(the directory Odoo writes the environment's log in, inside its data
    directory: ``logs/odoo.log``; the platform's directory of its rotated
    segments and indexes, which no container sees). services/env_log.py."""
    live = os.path.join(filestore_root, project_slug, "env-%d" % environment_id, "logs")
    return live, os.path.join(filestore_root, project_slug, "logs", "env-%d" % environment_id)


def db_filestore(spec, dbname, create_env_dir=True):
    """The filestore of one of the environment's databases."""
    return os.path.join(env_dir(spec, create_env_dir), "filestore", naming.validate_db_name(dbname))


def template_filestore(spec, template):
    """The filestore saved with one of the project's build templates."""
    root = os.path.join(spec["filestore_root"], spec["project_slug"], "templates")
    os.makedirs(root, exist_ok=True)
    os.chown(root, ODOO_UID, ODOO_UID)
    return os.path.join(root, "filestore", naming.validate_db_name(template))


def config_dir(spec):
    """The directory of the environment's configuration file (its credentials), root only."""
    return os.path.join(spec["secrets_root"], "env-%d" % spec["environment_id"])


def run_secret_dir(spec):
    """One-use secrets of one run (an obfuscation key), root only."""
    return os.path.join(spec["secrets_root"], "run-%d" % spec["run_id"])


def work_dir(spec, purpose=None):
    """A scratch directory of the run (``run-<id>`` or ``run-<id>-<purpose>``)."""
    name = "run-%d" % spec["run_id"] if not purpose else "run-%d-%s" % (spec["run_id"], purpose)
    return os.path.join(spec["work_root"], name)


def run_dir_patterns(spec):
    """Glob patterns of everything a run may leave in the work and secret roots."""
    return [os.path.join(spec["work_root"], "run-%d" % spec["run_id"]),
            os.path.join(spec["work_root"], "run-%d-*" % spec["run_id"]),
            os.path.join(spec["work_root"], "offsite-%d" % spec["run_id"]),
            run_secret_dir(spec)]

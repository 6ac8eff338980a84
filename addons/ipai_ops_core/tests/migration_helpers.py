"""The tests of the addons' migration scripts load them by path (their
directories are versions, their names have a hyphen: not importable)."""

import importlib.util


def load_migration(path):
    spec = importlib.util.spec_from_file_location("ipai_ops_migration_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

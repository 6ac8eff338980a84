"""A swarm unit's files (services/swarm_engine.py): Swarm configs and
secrets named after their content and the unit, mounted with the owner and
mode asked for, removed with the unit."""

import hashlib
import logging
import time

from docker.errors import APIError, NotFound
from docker.types import ConfigReference, SecretReference

from .runtime import LABEL_PREFIX, RuntimeFailure

_logger = logging.getLogger(__name__)

UNIT_LABEL = LABEL_PREFIX + "unit"  # on a unit's configs and secrets: its name


class SwarmFiles:
    """Mixed into the swarm backend: ``self.client`` is a manager's engine."""

    def _files(self, name, labels, files):
        """Configs and secrets for ``files`` ({target: {data, secret, uid, gid, mode}}), made now:
        (config references, secret references, [(kind, id)] made)."""
        configs, secrets, made = [], [], []
        for target, spec in sorted((files or {}).items()):
            data = spec["data"].encode() if isinstance(spec["data"], str) else spec["data"]
            digest = hashlib.sha256(target.encode() + b"\0" + data).hexdigest()[:12]
            file_name = "%s.%s" % (name, digest)
            file_labels = dict(labels, **{UNIT_LABEL: name})
            store = self.client.secrets if spec.get("secret") else self.client.configs
            try:
                # the engine's name filter matches a prefix: the very name only
                found = [obj for obj in store.list(filters={"name": file_name}) if obj.name == file_name]
                obj = found[0] if found else store.create(name=file_name, data=data, labels=file_labels)
            except APIError as exc:
                self._remove_files(made)
                raise RuntimeFailure("Cannot create the %s for %s of %s: %s" % (
                    "secret" if spec.get("secret") else "configuration", target, name, exc.explanation or exc)) \
                    from exc
            obj_id = obj.id
            made.append(("secret" if spec.get("secret") else "config", obj_id))
            owner = dict(uid=str(spec.get("uid", 0)), gid=str(spec.get("gid", 0)), mode=int(spec.get("mode", 0o400)))
            if spec.get("secret"):
                secrets.append(SecretReference(obj_id, file_name, filename=target, **owner))
            else:
                configs.append(ConfigReference(obj_id, file_name, filename=target, **owner))
        return configs, secrets, made

    def _remove_files(self, made):
        for kind, obj_id in made:
            store = self.client.secrets if kind == "secret" else self.client.configs
            try:
                store.get(obj_id).remove()
            except NotFound:
                continue  # gone already
            except APIError as exc:
                _logger.warning("ops: could not remove %s %s: %s", kind, obj_id, exc)

    def _remove_unit_files(self, name, timeout=30):
        """The unit's configs and secrets, once no task uses them (a task's container is stopping)."""
        deadline = time.monotonic() + timeout
        for store in (self.client.secrets, self.client.configs):
            for obj in store.list(filters={"label": ["%s=%s" % (UNIT_LABEL, name)]}):
                while True:
                    try:
                        obj.remove()
                        break
                    except NotFound:
                        break
                    except APIError as exc:
                        if "in use" not in str(exc) or time.monotonic() > deadline:
                            _logger.warning("ops: could not remove %s of %s: %s", obj.name, name, exc)
                            break
                        time.sleep(0.25)

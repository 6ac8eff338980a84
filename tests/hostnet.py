"""How an environment ran before it had a network of its own: the mounts of
a twin container on the host's network (the migration test, and the
serving bench's baseline). No pytest here: the bench imports it."""

import configparser
import os


def host_network_binds(container, directory):
    """The mounts of ``container`` for a twin on the host's network (how
    environments ran before they had networks of their own): its
    configuration file copied into ``directory`` with the database server
    on the loopback, as it was then (the gateway of its network is an
    address of the host the twin would come from, which pg_hba refuses)."""
    binds = []
    for bind in container.attrs["HostConfig"]["Binds"]:
        source, target = bind.split(":", 2)[:2]
        if target == "/etc/odoo/odoo.conf":
            parser = configparser.ConfigParser()
            parser.read(source)
            parser["options"]["db_host"] = "127.0.0.1"
            os.makedirs(directory, mode=0o700, exist_ok=True)
            copy = os.path.join(directory, "odoo.conf")
            with open(copy, "w") as fh:
                parser.write(fh)
            os.chown(copy, 101, 101)
            os.chmod(copy, 0o400)
            bind = "%s:%s:ro" % (copy, target)
        binds.append(bind)
    return binds

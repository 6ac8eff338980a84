"""The walls around environments' networks, against the real parts: Docker
networks (services/env_network.py), the host's iptables rules
(services/firewall.py) seen from inside a real container, pg_hba.conf on
the suite's own PostgreSQL server (services/postgres/access.py) and the
egress proxy's configuration checked by the real squid
(services/egress.py). The end-to-end proof, with real builds, is
tests/test_network.py."""

import ipaddress
import os
import secrets
import shutil
import socket
import tempfile
import threading

import docker
from odoo.tests import BaseCase, tagged

from ..services import docker_engine, egress, env_network, firewall, ports
from ..services.postgres import access
from .pg_helpers import _admin

PLANE = "o7e57e5"  # a control plane of these tests only
IMAGE = "ipai-ops/odoo:18.0"
PROBE = ("import socket, sys\n"
         "for port in sys.argv[2:]:\n"
         "    s = socket.socket(); s.settimeout(3)\n"
         "    try:\n"
         "        s.connect((sys.argv[1], int(port))); print(port, 'open')\n"
         "    except Exception as exc:\n"
         "        print(port, type(exc).__name__)\n")


@tagged("post_install", "-at_install", "ipai_ops")
class TestNames(BaseCase):
    def test_names_and_pool(self):
        self.assertEqual(env_network.network_name(PLANE, 12, "i"), "ops_%s_e12_i" % PLANE)
        self.assertEqual(env_network.network_name(PLANE, 0, "b"), "ops_%s_build" % PLANE)
        bridge = env_network.bridge_name(PLANE, "p", "10.213.1.16/28")
        self.assertLessEqual(len(bridge), 15, "Linux interface names have 15 characters at most")
        self.assertTrue(bridge.startswith(env_network.bridge_prefix(PLANE, "p")))
        self.assertNotEqual(bridge, env_network.bridge_name(PLANE, "p", "10.213.1.32/28"))
        self.assertEqual((env_network.kind_for_stage("production"), env_network.kind_for_stage("staging"),
                          env_network.kind_for_stage("development")), ("p", "i", "i"))
        for bad in ("8.8.0.0/16", "10.0.0.0/7", "10.213.0.0/24", "10.213.0.1/16", "fd00::/64", "nonsense"):
            with self.subTest(pool=bad), self.assertRaises(ValueError):
                env_network.validate_pool(bad)
        with self.assertRaises(ValueError):
            env_network.network_name("o; rm -rf", 1, "i")


@tagged("post_install", "-at_install", "ipai_ops")
class TestNetworksAndFirewall(BaseCase):
    """Real networks of a test control plane, and what a container on them
    reaches of the host."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.engine = docker_engine.DockerEngine(timeout=60)
        except docker_engine.DockerError as exc:
            raise AssertionError("the Docker engine is not running (scripts/docker.sh start): %s" % exc) from exc
        cls._cleanup()
        cls.addClassCleanup(cls._cleanup)

    @classmethod
    def _cleanup(cls):
        client = docker.from_env()
        for container in client.containers.list(all=True, filters={"label": "ipai-ops.plane=%s" % PLANE}):
            container.remove(force=True)
        for net in client.networks.list(filters={"label": "ipai-ops.plane=%s" % PLANE}):
            net.remove()  # by id: what a failed run left, two of one name included
        firewall.remove(PLANE)

    def _probe(self, network, host, *ports):
        out = docker.from_env().containers.run(
            IMAGE, ["-c", PROBE, host, *map(str, ports)], entrypoint="python3", network=network, remove=True,
            labels={"ipai-ops.plane": PLANE})
        return dict(line.split(" ", 1) for line in out.decode().splitlines())

    def test_one_network_per_environment_and_stage(self):
        dev = env_network.ensure(self.engine, PLANE, "i", 1, "acme")
        prod = env_network.ensure(self.engine, PLANE, "p", 2, "acme")
        subnets = [ipaddress.ip_network(n["subnet"]) for n in (dev, prod)]
        for subnet in subnets:
            self.assertEqual(subnet.prefixlen, 28)
            self.assertTrue(subnet.subnet_of(ipaddress.ip_network(env_network.DEFAULT_POOL)))
        self.assertFalse(subnets[0].overlaps(subnets[1]))
        self.assertTrue(dev["internal"], "development and staging: no route off the host")
        self.assertFalse(prod["internal"])
        self.assertEqual(dev["gateway"], str(subnets[0][1]))
        self.assertEqual(env_network.ensure(self.engine, PLANE, "i", 1, "acme")["id"], dev["id"], "made once")
        self.assertEqual(dev["environment_id"], 1)
        self.assertEqual(env_network.serve_address(dev), str(subnets[0][2]))
        self.assertEqual(env_network.serve_address(dev, avoid=str(subnets[0][2])), str(subnets[0][3]))
        # An environment of another project with the same id (a database made again) never shares it.
        again = env_network.ensure(self.engine, PLANE, "i", 1, "globex")
        self.assertNotEqual(again["id"], dev["id"])
        self.assertEqual(again["labels"]["ipai-ops.project"], "globex")
        self.assertEqual(sorted(env_network.remove_environment(self.engine, PLANE, 1)), ["ops_%s_e1_i" % PLANE])
        self.assertIsNone(env_network.get(self.engine, again["name"]))

    def test_runs_that_ask_at_once_get_one_network(self):
        """Builds that start at once each need the build network: one
        network is made, and every run gets that one (Docker's own check
        let two of one name be made, and the name was unusable after)."""
        name = env_network.network_name(PLANE, 0, env_network.BUILD)
        found, failed, go = [], [], threading.Event()

        def ask():
            go.wait(10)
            try:
                found.append(env_network.ensure(docker_engine.DockerEngine(timeout=60), PLANE, env_network.BUILD))
            except Exception as exc:  # noqa: BLE001 - what the run would have failed with
                failed.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for thread in threads:
            thread.start()
        go.set()
        for thread in threads:
            thread.join(60)
        self.assertEqual(failed, [])
        self.assertEqual(len({net["id"] for net in found}), 1, found)
        self.assertEqual([n.id for n in docker.from_env().networks.list(names=[name]) if n.name == name],
                         [found[0]["id"]])

    def test_the_host_answers_a_network_on_its_allowed_ports_only(self):
        allowed, other = socket.socket(), socket.socket()
        def serve(sock):
            try:
                while True:
                    sock.accept()[0].close()
            except OSError:  # closed at the end of the test
                return

        for sock in (allowed, other):
            sock.bind(("0.0.0.0", 0))
            sock.listen(8)
            self.addCleanup(sock.close)
            threading.Thread(target=serve, args=(sock,), daemon=True).start()
        port, other_port = allowed.getsockname()[1], other.getsockname()[1]
        dev = env_network.ensure(self.engine, PLANE, "i", 3, "acme")
        prod = env_network.ensure(self.engine, PLANE, "p", 4, "acme")
        firewall.ensure(PLANE, {"i": [port], "p": [], "b": []}, services=[port])
        firewall.ensure(PLANE, {"i": [port], "p": [], "b": []}, services=[port])  # idempotent
        entry = [r for r in firewall._rules("iptables", "INPUT") if r == ["-i", "ipo+", "-j", firewall.MAIN]]
        self.assertEqual(len(entry), 1)
        for net, expect in ((dev, "open"), (prod, "ConnectionRefusedError")):
            got = self._probe(net["name"], net["gateway"], port, other_port)
            self.assertEqual(got, {str(port): expect, str(other_port): "ConnectionRefusedError"}, net["kind"])
        # The same listener from the host itself: the firewall, not the listener, said no.
        socket.create_connection(("127.0.0.1", other_port), 2).close()
        # The rules follow the ports: production gets it, development loses it.
        firewall.ensure(PLANE, {"i": [], "p": [port], "b": []}, services=[port])
        self.assertEqual(firewall.describe(PLANE)["i"], [])
        self.assertEqual(self._probe(prod["name"], prod["gateway"], port), {str(port): "open"})
        self.assertEqual(self._probe(dev["name"], dev["gateway"], port), {str(port): "ConnectionRefusedError"})


@tagged("post_install", "-at_install", "ipai_ops")
class TestPgHba(BaseCase):
    TEXT = ("# PostgreSQL Client Authentication Configuration File\n#\n"
            "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n")

    def test_sections_keep_order_and_others(self):
        mine = access.render("o111111", [("ops_o111111_e1", "10.213.0.16/28")], "10.213.0.0/16", ["cp_db"])
        text = access.replace_sections(self.TEXT, "o111111", mine)
        theirs = access.render("o222222", [("ops_o222222_e9", "10.213.0.32/28")], "10.213.0.0/16", ["other_cp"])
        text = access.replace_sections(text, "o222222", theirs)
        lines = text.splitlines()
        self.assertEqual(lines[:2], ["# PostgreSQL Client Authentication Configuration File", "#"])
        rules = [line for line in lines if line and not line.startswith("#")]
        # Every denial before any grant (first match wins), the file's own rules last.
        self.assertEqual([r.split()[-1] for r in rules], ["reject", "reject", "scram-sha-256", "scram-sha-256",
                                                          "peer", "scram-sha-256"])
        self.assertIn("host    cp_db    all    10.213.0.0/16    reject", rules)
        self.assertIn("host    all    ops_o111111_e1    10.213.0.16/28    scram-sha-256", rules)
        # Rewriting one plane's sections leaves the other's; the same rewrite changes nothing.
        again = access.replace_sections(text, "o111111", access.render("o111111", [], "10.213.0.0/16", ["cp_db"]))
        self.assertNotIn("ops_o111111_e1", again)
        self.assertIn("ops_o222222_e9", again)
        self.assertEqual(access.replace_sections(again, "o222222", theirs), again)
        for bad in ([("postgres", "10.213.0.16/28")], [("ops_x", "0.0.0.0/0")], [("ops_x", "8.8.8.0/28")],
                    [("ops_x\nhost all all 0.0.0.0/0 trust", "10.213.0.16/28")]):
            with self.subTest(entries=bad), self.assertRaises(ValueError):
                access.render("o111111", bad)

    def test_the_server_takes_the_rules(self):
        admin = _admin()
        plane = "o%06x" % secrets.randbelow(0xFFFFFF)
        role = "ops_%s_e5" % plane
        self.addCleanup(access.sync, admin, plane, [])
        done = access.sync(admin, plane, [(role, "10.213.250.16/28")], "10.213.0.0/16", ["nobody_cp"])
        if done["status"] == "unmanaged":
            raise AssertionError("the suite's embedded server's pg_hba.conf must be the platform's to write")
        self.assertEqual(done["status"], "reloaded")
        import psycopg2

        conn = psycopg2.connect(dbname="postgres", **admin)
        self.addCleanup(conn.close)
        with conn.cursor() as cr:
            cr.execute("SELECT database, user_name, address, auth_method, error FROM pg_hba_file_rules "
                       "WHERE %s = ANY(user_name) OR 'nobody_cp' = ANY(database)", [role])
            rows = cr.fetchall()
        self.assertIn((["nobody_cp"], ["all"], "10.213.0.0", "reject", None), rows)
        self.assertIn((["all"], [role], "10.213.250.16", "scram-sha-256", None), rows)
        self.assertEqual(access.sync(admin, plane, [(role, "10.213.250.16/28")], "10.213.0.0/16",
                                     ["nobody_cp"])["status"], "unchanged")
        self.assertEqual(access.sync(admin, plane, [])["status"], "reloaded")

    def test_a_control_plane_that_is_gone_leaves_no_section(self):
        """Its own sections and its swarm hosts' go; another plane's stay."""
        admin = _admin()
        plane, other = ("o%06x" % secrets.randbelow(0xFFFFFF) for _ in range(2))
        self.addCleanup(access.forget, admin, other)
        self.addCleanup(access.forget, admin, plane)
        access.sync(admin, plane, [("ops_%s_e5" % plane, "10.213.250.16/28")], "10.213.0.0/16", ["nobody_cp"])
        access.sync(admin, plane + ":lab", [("ops_%s_e6" % plane, "10.213.251.16/28")])
        access.sync(admin, other, [("ops_%s_e5" % other, "10.213.252.16/28")])
        self.assertEqual(access.forget(admin, plane), sorted([plane, plane + ":lab"]))
        with open(access.managed_file(admin)) as fh:
            text = fh.read()
        self.assertNotIn(plane, text)
        self.assertIn("ops_%s_e5" % other, text)
        self.assertEqual(access.forget(admin, plane), [], "nothing left to remove")
        with self.assertRaises(ValueError):
            access.forget(admin, "o1\nhost all all 0.0.0.0/0 trust")


@tagged("post_install", "-at_install", "ipai_ops")
class TestEgressConfig(BaseCase):
    def test_allow_list_entries(self):
        names, nets = egress.parse_allowlist("# sandbox\napi.Example.com\n*.pypi.org\n.example.net  # all\n"
                                             "10.1.2.3\n192.168.0.0/24\n")
        self.assertEqual(names, [".example.net", ".pypi.org", "api.example.com"])
        self.assertEqual(nets, ["10.1.2.3/32", "192.168.0.0/24"])
        for bad in ("127.0.0.1", "localhost", "x.localhost", "169.254.169.254", "http://a.example.com/",
                    "a b.com", "0.0.0.0/0", "1.0.0.0/4", "-x.com", "::1"):
            with self.subTest(entry=bad), self.assertRaises(ValueError):
                egress.parse_allowlist(bad)

    def test_squid_takes_the_rendered_configuration(self):
        if not shutil.which("squid"):
            raise AssertionError("squid is not installed: scripts/setup.sh installs it")
        root = tempfile.mkdtemp(prefix="ipai-ops-egress-test-")
        self.addCleanup(shutil.rmtree, root, True)
        egress._prepare(root)
        with open(os.path.join(root, "squid.conf"), "w") as fh:
            fh.write(egress.render_main(root, 3999, ["10.213.0.0/16", "192.0.2.2"]))
        names, nets = egress.parse_allowlist("api.example.com\n10.9.8.7\n")
        with open(os.path.join(root, "envs", "env-7.conf"), "w") as fh:
            fh.write(egress.render_environment(7, "10.213.0.16/28", names, nets))
        code, output = egress._squid(root, "-k", "parse")
        self.assertEqual(code, 0, output)
        self.assertIn("acl ipai_e7 src 10.213.0.16/28", open(os.path.join(root, "envs", "env-7.conf")).read())

    def test_runs_setting_up_at_once_share_one_proxy(self):
        """Parallel runs of a worker pool each set their environment's allow-list: every one is
        written, squid is started once and takes them all, nothing half-written is left."""
        if not shutil.which("squid"):
            raise AssertionError("squid is not installed: scripts/setup.sh installs it")
        root = tempfile.mkdtemp(prefix="ipai-ops-egress-test-")
        self.addCleanup(shutil.rmtree, root, True)
        self.addCleanup(egress.stop, root)
        port, errors = ports.free_port(), []

        def setup(env_id):
            try:
                egress.set_environment(root, port, env_id, "10.213.%d.16/28" % env_id, "api%d.example.com\n" % env_id)
            except Exception as exc:  # noqa: BLE001 - the test reports every thread's failure
                errors.append("%d: %r" % (env_id, exc))

        threads = [threading.Thread(target=setup, args=(env_id,)) for env_id in range(1, 7)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(errors, [])
        self.assertTrue(egress.running(root))
        self.assertEqual(sorted(os.listdir(os.path.join(root, "envs"))),
                         ["000-none.conf"] + ["env-%d.conf" % i for i in range(1, 7)])
        self.assertEqual([name for name in os.listdir(root) if name.startswith(".squid")], [])
        code, output = egress._squid(root, "-k", "parse")
        self.assertEqual(code, 0, output)

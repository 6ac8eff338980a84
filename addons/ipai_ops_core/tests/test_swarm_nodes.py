from odoo.exceptions import ValidationError
from odoo.tests import tagged

from ..executors.base import RunFailed
from .common import OpsCase


@tagged("post_install", "-at_install", "ipai_ops")
class TestNodeStorage(OpsCase):
    """Where the files of an environment pinned to a swarm node are: a node
    with a disk of its own is reached through its engine (so it needs its
    endpoint), its storage does not change under environments pinned to
    it, and its runs go there."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = cls.env["ops.host"].create({"name": "swarm-t", "docker_url": "unix:///run/ipai-ops-t.sock",
                                               "runtime_kind": "swarm"})
        Node = cls.env["ops.host.node"]
        cls.shared = Node.create({"host_id": cls.host.id, "name": "n1"})
        cls.own = Node.create({"host_id": cls.host.id, "name": "n2", "docker_url": "tcp://127.0.0.1:2399",
                               "storage": "own"})
        cls.env_prod.sudo().write({"host": "swarm-t", "swarm_node": "n2", "state": "running",
                                   "database_name": "t_prod_db", "container_id": "unit-1"})

    def spec_of(self, kind, **config):
        run = self.Run.browse(self.Run.sudo()._ops_queue({
            "project_id": self.project.id, "environment_id": self.env_prod.id, "kind": kind, "config": config},
            trusted=True)["id"])
        return run._executor_spec("swarm-t")

    def staging_build(self):
        return self.Run.browse(self.Run.sudo()._ops_queue({
            "project_id": self.project.id, "environment_id": self.env_staging.id, "kind": "build"},
            trusted=True)["id"])

    def test_a_disk_of_its_own_needs_the_nodes_engine(self):
        with self.assertRaisesRegex(ValidationError, "give it its Docker endpoint"):
            self.env["ops.host.node"].create({"host_id": self.host.id, "name": "n3", "storage": "own"})
        with self.assertRaisesRegex(ValidationError, "give it its Docker endpoint"):
            self.own.write({"docker_url": False})

    def test_its_storage_does_not_change_under_its_environments(self):
        with self.assertRaisesRegex(ValidationError, "n2 has environments pinned to it"):
            self.own.write({"storage": "shared"})
        self.own.write({"storage": "own", "docker_url": "tcp://127.0.0.1:2398"})  # not a change of storage
        self.shared.write({"storage": "own", "docker_url": "tcp://127.0.0.1:2397"})  # nothing pinned there
        self.assertEqual(self.shared.storage, "own")

    def test_every_run_goes_to_the_node_its_files_are_on(self):
        self.assertEqual(self.spec_of("rollback")["node"], "n2", "a new unit on files already there")
        self.assertEqual(self.spec_of("build")["node"], "n2", "its Odoo commands run there as jobs")
        spec = self.spec_of("deploy")
        self.assertEqual((spec["node"], spec["node_storage"]), ("n2", {"n1": "shared", "n2": "own"}))
        self.assertEqual(spec["node_engines"]["n2"], "tcp://127.0.0.1:2399")
        with self.assertRaisesRegex(RunFailed, "The preview this upgrade was queued on"):
            self.spec_of("upgrade")  # an upgrade there goes on, to its own checks

    def test_a_lost_attempts_leftovers_are_looked_for_on_that_node(self):
        """The reaper's spec (executors/cleanup.py) knows where the files
        are: the lost databases' filestores and the run's copy of its tools
        are on the node's own disk."""
        run = self.Run.browse(self.Run.sudo()._ops_queue({
            "project_id": self.project.id, "environment_id": self.env_prod.id, "kind": "build"}, trusted=True)["id"])
        spec = run._ops_leftover_spec()
        self.assertEqual((spec["node"], spec["node_storage"], spec["node_engines"]["n2"]),
                         ("n2", {"n1": "shared", "n2": "own"}, "tcp://127.0.0.1:2399"))
        self.env_prod.sudo().node_lost = True
        self.assertIsNone(run._ops_leftover_spec()["node"], "a lost node is not asked")

    def test_the_log_is_taken_from_the_node_only_while_it_keeps_the_files(self):
        self.assertEqual(self.env_prod._ops_own_disk_node(), self.own)
        self.assertTrue(self.env_prod._ops_env_log().pull, "its log is taken from the node's disk")
        self.env_prod.sudo().node_lost = True
        self.assertFalse(self.env_prod._ops_own_disk_node(), "a lost node is not asked")
        self.env_prod.sudo().write({"node_lost": False, "swarm_node": "n1"})
        self.assertFalse(self.env_prod._ops_env_log().pull, "a shared node's log is the platform's file")

    def test_staging_copies_production_s_files_from_its_node(self):
        """A staging build of a production on a node's own disk copies its
        filestore from there (the platform's disk has none of it)."""
        run = self.staging_build()
        source = run._ops_staging_source("production", self.env_prod, "/srv/prod-store", {})
        self.assertEqual((source["filestore"], source["node"]), (
            "/srv/prod-store/t_prod_db", {"name": "n2", "docker_url": "tcp://127.0.0.1:2399"}))
        self.env_prod.sudo().swarm_node = "n1"
        source = run._ops_staging_source("production", self.env_prod, "/srv/prod-store", {})
        self.assertIsNone(source["node"], "on a shared node its files are the platform's: hard-linked")

    def test_an_obfuscated_staging_copy_is_made_there(self):
        self.env_staging.sudo().write({"host": "swarm-t", "swarm_node": "n2", "state": "running"})
        self.project.sudo().staging_obfuscate = True
        spec = self.staging_build()._executor_spec("swarm-t")
        self.assertEqual((spec["obfuscate"], spec["node"]), (True, "n2"), "obfuscate runs there as a job")

    def test_no_copy_of_its_data_while_its_node_is_lost(self):
        """Its files on a lost node's own disk: a staging copy would have no
        attachments, and is refused with the reason."""
        self.env_prod.sudo().node_lost = True
        run = self.staging_build()
        with self.assertRaisesRegex(RunFailed, "own disk of node n2, which does not answer: a staging copy of it "
                                               "would have none of its attachments"):
            run._ops_staging_source("production", self.env_prod, "/srv/prod-store", {})
        self.env_prod.sudo().swarm_node = "n1"
        self.assertIsNone(run._ops_staging_source("production", self.env_prod, "/srv/prod-store", {})["node"],
                          "a lost node that shares the platform's disk: its files are here")

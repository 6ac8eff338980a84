from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..services import naming


@tagged("post_install", "-at_install", "ipai_ops")
class TestNaming(BaseCase):
    def test_hostile_branch_names_are_refused(self):
        hostile = [
            "a;rm -rf /", "$(touch x)", "`id`", "../../etc", "-b", "--upload-pack=x", "a b", "a\nb", "a\tb",
            "x" * 300, "", "feature/../main", "a..b", "a//b", "trailing/", "x.lock", "@", "a@{1}", "q'uote",
            'dq"', "back\\slash", "pipe|x", "amp&x", "star*", "que?", "tilde~1", "caret^", "colon:x",
        ]
        for name in hostile:
            with self.subTest(name=name), self.assertRaises(ValueError):
                naming.validate_branch(name)

    def test_ordinary_branch_names_pass(self):
        for name in ("main", "18.0", "release/2.1", "feature/JIRA-12_fix", "user@dev/x", "v1.2+build"):
            self.assertEqual(naming.validate_branch(name), name)

    def test_refs_and_shas(self):
        self.assertEqual(naming.validate_ref("refs/heads/main"), "refs/heads/main")
        self.assertEqual(naming.validate_ref("3f9c2ab"), "3f9c2ab")
        for bad in ("refs/remotes/x", "refs/heads/../x", "refs/heads/$(x)"):
            with self.subTest(ref=bad), self.assertRaises(ValueError):
                naming.validate_ref(bad)
        for bad in ("XYZ", "abcdef0\n"):
            with self.subTest(sha=bad), self.assertRaises(ValueError):
                naming.validate_sha(bad)

    def test_database_names(self):
        self.assertEqual(naming.validate_db_name("acme_main_12"), "acme_main_12")
        for bad in ("Acme", "1abc", "a-b", "a;drop", "x" * 64, "", "a b", "abc\n"):
            with self.subTest(db=bad), self.assertRaises(ValueError):
                naming.validate_db_name(bad)
        name = naming.db_name_for("oab12cd", 7, 312, "acme-erp", "feature/Invoice-Layout!$")
        self.assertEqual(name, "oab12cd_7_312_acme_erp_feature_invoice_layout")
        long_name = naming.db_name_for("oab12cd", 10**6, 10**9, "p" * 63, "b" * 200)
        self.assertLessEqual(len(long_name), 63)
        self.assertTrue(long_name.startswith("oab12cd_1000000_1000000000_"), "the ids are never cut off")
        for bad in (("Bad NS", 1, 1), ("oab12cd", 0, 1), ("oab12cd", 1, "1"), ("oab12cd", True, 1)):
            with self.subTest(args=bad), self.assertRaises(ValueError):
                naming.db_name_for(*bad)

    def test_names_never_collide_across_projects_and_branches(self):
        """Slugs and branches are only decoration: ids make the names unique
        (before, "foo-bar"/"x" and "foo"/"bar/x" gave the same database, and
        slugs sharing their first 24 characters collided)."""
        ns = "oab12cd"
        self.assertNotEqual(naming.db_name_for(ns, 1, 5, "foo-bar", "x"), naming.db_name_for(ns, 2, 5, "foo", "bar/x"))
        self.assertNotEqual(naming.db_name_for(ns, 1, 5, "customer-erp-production-eu", "main"),
                            naming.db_name_for(ns, 2, 6, "customer-erp-production-us", "main"))
        names = {naming.db_name_for(ns, env, run, "p" * 40, "b" * 40) for env in range(1, 40) for run in range(1, 40)}
        self.assertEqual(len(names), 39 * 39, "every (environment, run) pair has its own name")
        self.assertNotEqual(naming.env_role_name(ns, 12), naming.env_role_name(ns, 121))
        self.assertNotEqual(naming.template_db_name(ns, 1, "abcdef123456"),
                            naming.template_db_name(ns, 11, "abcdef123456"))
        for name in (naming.db_name_for(ns, 3, 4), naming.template_db_name(ns, 3, "abcdef"),
                     naming.verified_copy_name(ns, 3), naming.drill_db_name(ns, 4)):
            self.assertTrue(naming.owns_database_name(ns, name), name)
            self.assertFalse(naming.owns_database_name("oother1", name), name)

    def test_namespaces_keep_control_planes_apart(self):
        prod, copy = naming.namespace_for("ipai_ops"), naming.namespace_for("ipai_ops_copy")
        self.assertNotEqual(prod, copy)
        self.assertEqual(prod, naming.namespace_for("ipai_ops"), "stable for a database")
        self.assertEqual(naming.validate_namespace(prod), prod)
        self.assertNotEqual(naming.env_role_name(prod, 1), naming.env_role_name(copy, 1))
        self.assertNotEqual(naming.db_name_for(prod, 1, 1), naming.db_name_for(copy, 1, 1))
        self.assertNotEqual(naming.container_name(prod, "serve", 1, 1), naming.container_name(copy, "serve", 1, 1))

    def test_repo_urls(self):
        for ok in ("/srv/git/x.git", "file:///srv/git/x.git", "https://github.com/o/r.git",
                   "ssh://git@host/r.git", "git@github.com:o/r.git"):
            self.assertEqual(naming.validate_repo_url(ok), ok)
        for bad in ("relative/path", "-uhack", "ext::sh -c touch", "https://x y", "ftp://x", ""):
            with self.subTest(url=bad), self.assertRaises(ValueError):
                naming.validate_repo_url(bad)

    def test_slugs(self):
        self.assertEqual(naming.validate_slug("acme-erp"), "acme-erp")
        for bad in ("Acme", "-x", "x-", "a_b", "", "a" * 64, "acme\n"):
            with self.subTest(slug=bad), self.assertRaises(ValueError):
                naming.validate_slug(bad)
        self.assertEqual(naming.slugify("Acme ERP (main)!"), "acme-erp-main")

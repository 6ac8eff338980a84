"""services/git_repo.py and git_tree.py against real git repositories made in tmp_path (no Odoo registry needed)."""

import hashlib
import os
import shutil
import stat
import subprocess
import time

import pytest
from odoo.addons.ipai_ops_core.services import git_repo, git_tree

HOSTILE_REFS = [
    "a;rm -rf /", "$(touch x)", "`touch x`", "--upload-pack=touch x", "-b", "../../etc", "refs/heads/../x",
    "refs/remotes/origin/main", "x" * 300, "a\nb", "main\n", "a b", "", "a..b", "HEAD@{1}", "main^{tree}",
    "main~1", "x:y", "back\\slash", "refs/heads/$(id)", None, 42,
]
HOSTILE_URLS = [
    "ext::sh -c touch% /tmp/pwned", "--upload-pack=touch /tmp/pwned", "-oProxyCommand=x", "fd::3", "", "a b",
    "relative/path", "file:///tmp/x\nfoo", "x" * 2000, "/tmp/x::y",
]


def _git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com", GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd))
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _write(root, rel, text, mode=None):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode:
        path.chmod(mode)


def _commit(repo, message):
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def origin(tmp_path):
    """A repository in the Odoo.sh layout: main (two commits, tag v1 on the first) and feature/x."""
    repo = tmp_path / "origin"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo, "my_addon/__manifest__.py", "{'name': 'My addon', 'version': '18.0.1.0.0'}\n")
    _write(repo, "my_addon/__init__.py", "")
    _write(repo, "my_addon/bin/tool.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    _write(repo, "docs/index.md", "not an addon\n")
    _write(repo, ".hidden_addon/__manifest__.py", "{}\n")
    _write(repo, "README.md", "hello\n")
    # The export must write the commit's tree as it is, whatever the repository's own attributes say.
    _write(repo, ".gitattributes", "docs/ export-ignore\nREADME.md export-subst\n")
    first = _commit(repo, "first")
    _git(repo, "tag", "-a", "-m", "release 1", "v1")
    _git(repo, "tag", "light")
    _write(repo, "second_addon/__manifest__.py", "{'name': 'Second'}\n")
    _write(repo, "my_addon/__init__.py", "# changed\n")
    second = _commit(repo, "second")
    _git(repo, "checkout", "-q", "-b", "feature/x")
    _write(repo, "feature_addon/__manifest__.py", "{}\n")
    feature = _commit(repo, "feature")
    _git(repo, "checkout", "-q", "main")
    return {"path": repo, "url": str(repo), "first": first, "second": second, "feature": feature}


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_mirror_is_bare_and_named_by_the_url_hash(origin, cache):
    path = git_repo.ensure_mirror(origin["url"], cache)
    digest = hashlib.sha256(origin["url"].encode()).hexdigest()
    assert path == os.path.join(str(cache), digest + ".git")
    assert _git(path, "rev-parse", "--is-bare-repository") == "true"
    names = os.listdir(cache)
    assert all("origin" not in name for name in names)
    assert sorted(n for n in names if not n.endswith(".lock")) == [digest + ".git"]
    # file:// and a plain path are two URLs, hence two mirrors.
    other = git_repo.ensure_mirror("file://" + origin["url"], cache)
    assert other != path and os.path.isdir(other)


def test_resolve_branches_tags_and_shas(origin, cache):
    url = origin["url"]
    assert git_repo.resolve(url, "main", cache) == origin["second"]
    assert git_repo.resolve(url, "refs/heads/main", cache) == origin["second"]
    assert git_repo.resolve(url, "feature/x", cache) == origin["feature"]
    assert git_repo.resolve(url, "refs/heads/feature/x", cache) == origin["feature"]
    # Annotated tags are peeled to their commit; lightweight tags too.
    assert git_repo.resolve(url, "v1", cache) == origin["first"]
    assert git_repo.resolve(url, "refs/tags/v1", cache) == origin["first"]
    assert git_repo.resolve(url, "light", cache) == origin["first"]
    assert git_repo.resolve(url, origin["first"], cache) == origin["first"]
    assert git_repo.resolve(url, origin["feature"][:8], cache) == origin["feature"]
    # Through a file:// URL as well.
    assert git_repo.resolve("file://" + url, "main", cache) == origin["second"]


def test_resolve_fetches_new_commits_and_list_branches_prunes(origin, cache):
    url, repo = origin["url"], origin["path"]
    assert git_repo.list_branches(url, cache) == {"main": origin["second"], "feature/x": origin["feature"]}
    _write(repo, "my_addon/models.py", "x = 1\n")
    third = _commit(repo, "third")
    _git(repo, "branch", "-D", "feature/x")
    _git(repo, "branch", "release/1.0", origin["first"])
    assert git_repo.resolve(url, "main", cache) == third
    assert git_repo.list_branches(url, cache) == {"main": third, "release/1.0": origin["first"]}
    with pytest.raises(git_repo.GitError) as err:
        git_repo.resolve(url, "feature/x", cache)
    assert err.value.kind == "unknown_ref"


def test_unknown_branch_commit_and_repository(origin, cache, tmp_path):
    url = origin["url"]
    with pytest.raises(git_repo.GitError) as err:
        git_repo.resolve(url, "no-such-branch", cache)
    assert err.value.kind == "unknown_ref"
    assert "Unknown branch" in str(err.value) and "no-such-branch" in str(err.value)
    with pytest.raises(git_repo.GitError, match=r"Unknown branch 'gone'"):
        git_repo.resolve(url, "refs/heads/gone", cache)
    with pytest.raises(git_repo.GitError, match=r"Unknown tag 'v9'"):
        git_repo.resolve(url, "refs/tags/v9", cache)
    with pytest.raises(git_repo.GitError) as err:
        git_repo.resolve(url, "0" * 40, cache)
    assert err.value.kind == "unknown_ref" and "0" * 40 in str(err.value)
    with pytest.raises(git_repo.GitError, match="Unknown commit"):
        git_tree.export(url, "deadbeef" * 5, tmp_path / "out", cache)
    assert not (tmp_path / "out").exists()

    for missing in (str(tmp_path / "does-not-exist"), "file://%s/nope.git" % tmp_path):
        with pytest.raises(git_repo.GitError) as err:
            git_repo.resolve(missing, "main", cache)
        assert err.value.kind == "unreachable"
        assert "does not exist or cannot be reached" in str(err.value)
        # A failed first clone leaves no mirror (nor temporary directory) behind.
        assert not os.path.exists(git_repo.mirror_path(missing, cache))
        assert not [n for n in os.listdir(cache) if n.startswith(".clone-")]


def test_hostile_refs_and_urls_never_reach_git(origin, cache, tmp_path):
    """With the real git: nothing hostile is run. Had any of these reached
    git, it would have made the mirror (the cache directory) or the marker
    file the injected commands try to create."""
    marker = tmp_path / "pwned"
    hostile_refs = HOSTILE_REFS + ["$(touch %s)" % marker, "--upload-pack=touch %s" % marker]
    hostile_urls = HOSTILE_URLS + ["ext::sh -c touch%% %s" % marker, "--upload-pack=touch %s" % marker,
                                   "file://%s --upload-pack=touch %s" % (origin["url"], marker)]
    for ref in hostile_refs:
        with pytest.raises((ValueError, git_repo.GitError)):
            git_repo.resolve(origin["url"], ref, cache)
    for sha in hostile_refs + ["main", "ABCDEF0", "abc", "abcdef0\n", origin["first"] + "\n"]:
        with pytest.raises((ValueError, git_repo.GitError)):
            git_tree.export(origin["url"], sha, tmp_path / "out", cache)
        if sha is not None:  # None as the old commit means "everything"
            with pytest.raises((ValueError, git_repo.GitError)):
                git_repo.changed_paths(origin["url"], sha, origin["first"], cache)
        with pytest.raises((ValueError, git_repo.GitError)):
            git_repo.changed_paths(origin["url"], origin["first"], sha, cache)
    for url in hostile_urls:
        for call in (
            lambda u: git_repo.ensure_mirror(u, cache),
            lambda u: git_repo.resolve(u, "main", cache),
            lambda u: git_repo.list_branches(u, cache),
            lambda u: git_tree.export(u, origin["first"], tmp_path / "out", cache),
        ):
            with pytest.raises((ValueError, git_repo.GitError)):
                call(url)
    assert not (tmp_path / "x").exists() and not cache.exists()
    assert not marker.exists() and not os.path.exists("/tmp/pwned")


def test_odd_branch_names_in_the_remote_are_data(origin, cache, tmp_path):
    # Git accepts "$", "(" and ")" in a branch name; it comes back verbatim and nothing runs.
    _git(origin["path"], "branch", "x$(touch${IFS}pwned)", origin["first"])
    branches = git_repo.list_branches(origin["url"], cache)
    assert branches["x$(touch${IFS}pwned)"] == origin["first"]
    assert not list(tmp_path.rglob("pwned"))


def test_export_writes_exactly_the_tree(origin, cache, tmp_path):
    dest = tmp_path / "tree"
    assert git_tree.export(origin["url"], origin["second"], dest, cache) == origin["second"]
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [
        ".gitattributes", ".hidden_addon/__manifest__.py", "README.md", "docs/index.md", "my_addon/__init__.py",
        "my_addon/__manifest__.py", "my_addon/bin/tool.sh", "second_addon/__manifest__.py",
    ]
    assert not (dest / ".git").exists()
    assert (dest / "my_addon/__init__.py").read_text() == "# changed\n"
    assert (dest / "README.md").read_text() == "hello\n"  # export-subst neutralized
    assert os.stat(dest / "my_addon/bin/tool.sh").st_mode & stat.S_IXUSR
    assert git_tree.addon_dirs(dest) == ["my_addon", "second_addon"]

    # An older commit, by abbreviated sha, into an existing empty directory.
    old = tmp_path / "old"
    old.mkdir()
    assert git_tree.export(origin["url"], origin["first"][:10], old, cache) == origin["first"]
    assert git_tree.addon_dirs(old) == ["my_addon"]
    assert (old / "my_addon/__init__.py").read_text() == ""

    # Only into a missing or empty directory.
    with pytest.raises(git_repo.GitError, match="not an empty directory"):
        git_tree.export(origin["url"], origin["first"], dest, cache)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(git_repo.GitError, match="not an empty directory"):
        git_tree.export(origin["url"], origin["first"], a_file, cache)


def test_export_refuses_symlinks_leaving_the_tree(origin, cache, tmp_path):
    repo = origin["path"]
    os.symlink("../../../../../etc/passwd", repo / "my_addon" / "evil")
    sha = _commit(repo, "evil link")
    dest = tmp_path / "evil-tree"
    with pytest.raises(git_repo.GitError) as err:
        git_tree.export(origin["url"], sha, dest, cache)
    assert err.value.kind == "export"
    assert not dest.exists()
    # A link inside the tree is fine.
    _git(repo, "rm", "-q", "my_addon/evil")
    os.symlink("__init__.py", repo / "my_addon" / "alias.py")
    sha = _commit(repo, "inner link")
    git_tree.export(origin["url"], sha, dest, cache)
    assert os.readlink(dest / "my_addon" / "alias.py") == "__init__.py"


def test_a_hanging_fetch_is_killed_with_its_children(origin, cache, tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    real_git = shutil.which("git")
    # A fetch that never ends, with a grandchild holding git's stdout open.
    _write(fake, "git", '#!/bin/sh\ncase " $* " in *" fetch "*) sleep 60 & sleep 60;; esac\nexec %s "$@"\n' % real_git,
           mode=0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (fake, os.environ["PATH"]))
    started = time.monotonic()
    with pytest.raises(git_repo.GitError) as err:
        git_repo.ensure_mirror(origin["url"], cache, timeout=1)
    assert err.value.kind == "timeout" and "timed out" in str(err.value)
    assert time.monotonic() - started < 15
    assert not os.path.exists(git_repo.mirror_path(origin["url"], cache))


def test_changed_paths(origin, cache):
    url = origin["url"]
    assert git_repo.changed_paths(url, origin["first"], origin["second"], cache) == [
        "my_addon/__init__.py", "second_addon/__manifest__.py",
    ]
    assert git_repo.changed_paths(url, origin["second"], origin["feature"], cache) == [
        "feature_addon/__manifest__.py",
    ]
    assert git_repo.changed_paths(url, origin["second"], origin["second"], cache) == []
    # A rename lists both paths; None as the old commit lists everything.
    repo = origin["path"]
    _git(repo, "mv", "second_addon", "renamed_addon")
    renamed = _commit(repo, "rename")
    assert git_repo.changed_paths(url, origin["second"], renamed[:12], cache) == [
        "renamed_addon/__manifest__.py", "second_addon/__manifest__.py",
    ]
    assert "docs/index.md" in git_repo.changed_paths(url, None, origin["first"], cache)


def test_addon_dirs(tmp_path):
    (tmp_path / "a_addon").mkdir()
    (tmp_path / "a_addon" / "__manifest__.py").write_text("{}")
    (tmp_path / "b_not").mkdir()
    (tmp_path / "b_not" / "__init__.py").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "__manifest__.py").write_text("{}")
    (tmp_path / "c_addon").mkdir()
    (tmp_path / "c_addon" / "__manifest__.py").write_text("{}")
    (tmp_path / "__manifest__.py").write_text("{}")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "deep").mkdir()
    (tmp_path / "nested" / "deep" / "__manifest__.py").write_text("{}")
    os.symlink(tmp_path / "a_addon", tmp_path / "linked_addon")
    assert git_tree.addon_dirs(tmp_path) == ["a_addon", "c_addon"]


def test_redact_url():
    assert git_repo.redact_url("https://bob:s3cret@git.example.com/acme.git") == "https://bob:***@git.example.com/acme.git"
    assert git_repo.redact_url("https://git.example.com/acme.git") == "https://git.example.com/acme.git"
    assert git_repo.redact_url("git@github.com:acme/erp.git") == "git@github.com:acme/erp.git"

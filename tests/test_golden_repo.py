"""The on-store format is pinned by a small repository written once by format version 1 and
committed under tests/golden/ (as restic keeps one): every later engine must still open it, list
its snapshots, read every entry and pass a full check. Never regenerate it to make this pass: a
failure here means stored customer backups would stop reading (docs/backup-format.md, "Format
versions")."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from backups.engine import RepoKeys, Repository, WrongKeys, check
from infra.objectstore import LocalStore

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def repo(tmp_path):
    # A copy: opening for check writes a lock object, and the pinned files must stay as they are.
    shutil.copytree(GOLDEN / "repo-v1", tmp_path / "store")
    keys = RepoKeys.from_bytes((GOLDEN / "repo-v1.keys").read_bytes())
    return Repository(LocalStore(tmp_path / "store"), "customers/golden/", keys).open()


def _read(repo, snapshot):
    entries = []
    for entry in repo.iter_tree(snapshot):
        row = entry.to_json()
        row.pop("content", None)
        if entry.type == "file":
            digest = hashlib.sha256()
            for chunk in repo.read_entry(entry):
                digest.update(chunk)
            row["sha256"] = digest.hexdigest()
        entries.append(row)
    return entries


def test_version_1_repository_still_reads_entry_for_entry(repo):
    expected = json.loads((GOLDEN / "repo-v1.expected.json").read_text())
    snapshots = {s.id: s for s in repo.snapshots()}
    assert set(snapshots) == set(expected)
    for sid, want in expected.items():
        snap = snapshots[sid]
        assert snap.parent == want["parent"]
        assert snap.source == want["source"]
        assert _read(repo, snap) == want["entries"]


def test_version_1_contents_are_the_bytes_that_were_stored(repo):
    first = next(s for s in repo.snapshots() if s.parent is None)
    tree = repo.tree_dict(first)
    assert b"".join(repo.read_entry(tree["public_html/index.php"])) == b"<?php echo 'golden';\n"
    assert b"".join(repo.read_entry(tree["data/æbler 🍎.txt"])) == "Danske æbler\n".encode()
    assert tree["public_html/shared"].target == "/usr/share/php"
    assert tree["data"].mode == 0o42750  # setgid kept
    # A name that is not UTF-8 (latin-1 "æ") comes back as the same bytes.
    assert any(p.encode("utf-8", "surrogateescape") == b"data/latin1-\xe6.txt" for p in tree)


def test_version_1_repository_passes_a_full_check(repo):
    report = check(repo, read_data_percent=100)
    assert report.ok, report


def test_version_1_repository_refuses_other_keys(tmp_path):
    shutil.copytree(GOLDEN / "repo-v1", tmp_path / "store")
    with pytest.raises(WrongKeys):
        Repository(LocalStore(tmp_path / "store"), "customers/golden/", RepoKeys.generate()).open()

"""Property: for any generated tree, backup → restore gives back the same tree (names as
bytes, types, contents, modes, times, hard links, xattrs), through a real vaultd over mTLS.
Bounded: a few dozen examples, each a small tree."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulwark.agent.backup.run import run_backup
from bulwark.agent.client.vault import VaultClient
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.restore.run import run_restore
from bulwark.agent.site.config import load_agent_config
from tests.lib.trees import differences, remove_tree, tree_state

NAMES = st.binary(min_size=1, max_size=10).filter(
    lambda b: b not in (b".", b"..") and b"/" not in b and b"\x00" not in b)
MTIMES = st.integers(min_value=0, max_value=4_000_000_000 * 10**9)
FILES = st.tuples(st.just("file"), st.binary(max_size=3000),
                  st.sampled_from([0o600, 0o644, 0o755, 0o4711, 0o000]), MTIMES,
                  st.dictionaries(st.sampled_from([b"user.a", b"user.b\xff"]),
                                  st.binary(max_size=20), max_size=2))
LEAVES = st.one_of(FILES, st.tuples(st.just("link"), NAMES), st.tuples(st.just("fifo")),
                   st.tuples(st.just("hardlink")))
TREES = st.dictionaries(NAMES, st.recursive(
    LEAVES, lambda children: st.dictionaries(NAMES, children, max_size=4), max_leaves=10),
    max_size=5)


def build(root: bytes, tree: dict, files: list[bytes]) -> None:
    """Create ``tree`` under ``root``; a "hardlink" links to the first file made so far."""
    os.mkdir(root)
    for name, node in tree.items():
        path = root + b"/" + name
        if isinstance(node, dict):
            build(path, node, files)
        elif node[0] == "file":
            _, data, mode, mtime, xattrs = node
            with open(path, "wb") as f:
                f.write(data)
            for key, value in xattrs.items():
                os.setxattr(path, key, value)
            os.chmod(path, mode)
            os.utime(path, ns=(mtime, mtime))
            files.append(path)
        elif node[0] == "link":
            os.symlink(node[1], path)
        elif node[0] == "fifo":
            os.mkfifo(path, 0o640)
        elif files:
            os.link(files[0], path)


counter = itertools.count()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tree=TREES)
def test_backup_then_restore_is_identity(site, tmp_path, tree):
    n = next(counter)
    src, target = tmp_path / f"src{n}", tmp_path / f"r{n}"
    try:
        build(os.fsencode(src), tree, [])
        node = load_agent_config(site.agent_toml)
        operator = load_agent_config(site.operator_toml)
        with VaultClient.from_config(node) as client:
            backup = run_backup(client, load_keyring(node.key_file, node.node), [str(src)],
                                [], tmp_path / "cache", 2)
        assert backup.skipped == []
        with VaultClient.from_config(operator) as client:
            restored = run_restore(client, load_keyring(operator.key_file, operator.node),
                                   backup.snapshot.id, target, None, 2)
        assert restored.failed == [] and restored.skipped == []
        out = Path(target) / str(src).lstrip("/")
        assert differences(tree_state(src), tree_state(out)) == []
    finally:
        remove_tree(src)
        remove_tree(target)

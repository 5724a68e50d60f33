"""Fixtures shared by every test tier."""

from __future__ import annotations

import shutil

import pytest

from tests.lib.ceph_rgw import rgw_cluster  # noqa: F401 - one Ceph cluster per session
from tests.sealing import unseal_tree


@pytest.fixture(autouse=True)
def _unseal_tmp_path(request):
    """Blobs stored during a test may be immutable (chattr +i); unseal them afterwards so
    pytest can delete old temporary directories."""
    path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if path is not None:
        unseal_tree(path)


@pytest.fixture(scope="session", autouse=True)
def _unseal_basetemp(tmp_path_factory):
    """Module- and session-scoped fixtures make folders with tmp_path_factory, which the
    per-test unseal above never sees: at the end of the session every immutable blob under
    pytest's temporary root is unsealed, so no immutable folder is left in the system temp
    dir, and the "garbage-*" folders pytest could not delete in earlier runs go too."""
    yield
    root = tmp_path_factory.getbasetemp().parent  # pytest-of-<user>: this run and older ones
    unseal_tree(root)
    for garbage in root.glob("garbage-*"):
        shutil.rmtree(garbage, ignore_errors=True)

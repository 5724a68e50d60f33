"""Fixtures shared by every test tier."""

from __future__ import annotations

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

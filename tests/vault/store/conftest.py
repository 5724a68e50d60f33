"""The S3 store's tests run against one real Ceph radosgw per session (tests/lib/ceph_rgw.py)."""

from tests.lib.ceph_rgw import rgw_cluster  # noqa: F401 - the session fixture

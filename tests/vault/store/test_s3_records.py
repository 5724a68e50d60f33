"""BucketCatalog against Catalog: the bucket layer overrides the catalog's changes, so the two
must not drift apart. An argument added to a Catalog method the bucket layer overrides fails
here instead of being dropped (or refused) on the S3 store only, and a new public Catalog
method must be sorted into "mirrored to the bucket" or "local only" on purpose. The behaviour
against a real radosgw is in test_s3.py."""

from __future__ import annotations

import inspect

from bulwark.vault.catalog.db import Catalog
from bulwark.vault.store.s3_records import BucketCatalog

#: Public Catalog methods the bucket layer does not override: reads, and local state the
#: bucket does not keep (leases in memory, rows of pruned chunks).
LOCAL_ONLY = {
    "chunk_digest", "chunk_lock", "chunk_locks", "chunks_of_node", "close", "count_after",
    "drop_locks", "expired_snapshots", "forget_chunks", "gc_candidates", "has_chunk",
    "has_snapshot", "held_chunks", "hold_all_leases", "iter_chunks", "list_snapshots",
    "missing_chunks", "new_chunk_count", "newest_time_ns", "purge_leases",
    "resolve", "snapshot_chunk_ids", "snapshot_page", "snapshots_referencing",
    "snapshots_referencing_many",
}


def public_methods(cls: type) -> dict[str, object]:
    return {name: fn for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")}


def overridden() -> list[str]:
    return sorted(n for n in public_methods(Catalog) if n in vars(BucketCatalog))


def test_every_override_keeps_the_catalogs_signature():
    names = overridden()
    assert names == ["commit_snapshot", "delete_expired", "delete_snapshot", "record_chunks",
                     "record_damage", "set_legal_hold", "set_mark", "set_retain_until"]
    for name in names:
        mine = inspect.signature(getattr(BucketCatalog, name))
        theirs = inspect.signature(getattr(Catalog, name))
        assert mine == theirs, f"BucketCatalog.{name}{mine} != Catalog.{name}{theirs}"


def test_each_public_catalog_method_is_mirrored_or_local_on_purpose():
    unsorted = set(public_methods(Catalog)) - set(overridden()) - LOCAL_ONLY
    assert unsorted == set(), (
        f"new Catalog method(s) {sorted(unsorted)}: if they change what a snapshot or chunk "
        "record holds, BucketCatalog must write the bucket first; else add them to LOCAL_ONLY")


def test_the_bucket_layer_uses_no_private_catalog_names():
    source = inspect.getsource(BucketCatalog)
    for private in ("_locked", "_transaction", "_db", "_leases", "chunk_locks WHERE",
                    "FROM snapshot_chunks", "FROM snapshots"):
        assert private not in source, private

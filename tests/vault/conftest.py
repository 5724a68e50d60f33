"""Shared fixtures for vault tests: chunk ids and blobs that look like the real thing."""

from __future__ import annotations

import os

import pytest

from bulwark.vault.store.base import blob_digest


def make_blob(size: int = 64) -> tuple[bytes, bytes, bytes]:
    """A random ``(chunk_id, data, digest)`` item as a format-v2 agent sends it: the id is
    the blob's content address, so it equals the digest."""
    data = os.urandom(size)
    return blob_digest(data), data, blob_digest(data)


@pytest.fixture
def blob():
    return make_blob

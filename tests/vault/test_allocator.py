"""allocator.tune(): glibc (Debian, the supported platform) takes every setting."""

from __future__ import annotations

from bulwark.vault import allocator


def test_glibc_takes_the_thresholds():
    assert allocator.tune() is True
    assert allocator.tune() is True  # idempotent: every CLI entry may call it

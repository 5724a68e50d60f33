"""Tests of vault/airgap/."""

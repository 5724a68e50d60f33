"""Test infrastructure shared by several tiers (real services the tests start and stop)."""

"""Ransomware signals (issue 18): per-file facts, the node's baseline, the snapshot's score."""

"""Restore drills: restore a snapshot into a sandbox, check it, report signed results.

``runner`` orchestrates; ``sandbox`` makes the isolated environment; ``inside`` is the
entry point that runs in it; ``validators`` checks file formats; ``report`` is the
signed record.
"""

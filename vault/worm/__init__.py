"""WORM retention: the rules (``retention``), the compliance clock, prune and scrub, the
retention ledger kept in the audit chain, forget policies and their schedule, ransomware
marks and quarantine."""

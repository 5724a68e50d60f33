"""Bulwark vault: everything that keeps ciphertext safe.

The gRPC service, chunk stores, the catalog and (later) retention, audit, prune, scrub
and air-gap replication. Never imports ``agent``; sees only ciphertext and keyless ids.
"""

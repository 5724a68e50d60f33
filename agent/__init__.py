"""Bulwark agent: everything that touches plaintext.

Scanning, chunking, chunk ids, compression, encryption, manifests, upload, restore,
verify and the operator CLI. Talks to the vault only through ``protos`` over gRPC.
"""

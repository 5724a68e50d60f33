"""The tamper-evident audit log (a BLAKE3 hash chain, ``log``) and the space it keeps in
reserve for a full disk (``reserve``)."""

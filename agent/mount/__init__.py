"""A read-only view of snapshots as a file system (``vaultctl mount``): the view tree
(``tree``), the bounded chunk cache (``cache``) and the FUSE adapter (``fuse_ops``)."""

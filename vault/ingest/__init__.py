"""What a put or a commit must satisfy: the ingest rules (``rules``), the upload guard,
per-caller limits, per-node quotas and upload leases."""

"""A site: its PKI (``pki``), its identities and their configuration files (``identity``),
``init`` (the ready-to-run site of ``vaultctl init``) and ``config`` (loading ``agent.toml``).
"""

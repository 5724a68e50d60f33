"""The agent's only gRPC edge: ``channel`` opens the mTLS channel, ``vault`` speaks
``bulwark.v1.Vault`` (and ``Keys``/``Drills``), ``admin`` speaks ``Retention`` and ``Audit``,
``audit_chain`` checks the audit log the vault returns. No other agent package imports the
generated gRPC stubs, and every gRPC status maps to an agent error in ``errors`` here.
"""

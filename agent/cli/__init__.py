"""Command-line front ends: ``vaultctl`` (operators) and ``vault-agent`` (nodes).

Thin commands over the library: one module per command, each with ``add_parser`` and
``run``; exceptions map to exit codes in :mod:`agent.cli.common` only.
"""

"""Command-line front ends: ``vaultctl`` (operators) and ``vault-agent`` (nodes).

Thin commands over the library: one module per command, each with ``add_parser`` and
``run``; exceptions map to exit codes in :mod:`agent.cli.common` only.

gRPC's C core writes its own log lines (``E1129 ... ssl_transport_security.cc ...``) to
stderr; every failure reaches the user as one agent error instead, so the core is told to
keep quiet before it is first imported. ``GRPC_VERBOSITY=ERROR`` (or ``DEBUG``) in the
environment brings its lines back for troubleshooting.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")

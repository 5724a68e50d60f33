"""vaultd's own server, in this process, for tests of what talks to it over real gRPC.

``InProcessVault(root)`` writes a ``vault.toml`` under ``root`` (plaintext, ``insecure =
true``: every caller is the operator; mTLS and roles are tested against real vaultd
processes in tests/e2e), opens the store and catalog as vaultd does (``open_backends``),
or takes the ``store`` a test passes (``tests.lib.faulty_store.FaultyStore`` for faults),
and serves ``build_server``'s services on ``127.0.0.1:<free port>`` with a ``FakeClock``.
``address`` is where to connect; ``close()`` stops the server and closes what it opened.
"""

from __future__ import annotations

from pathlib import Path

from bulwark.vault.config import load_config
from bulwark.vault.rpc.server import build_server, open_backends
from bulwark.vault.store.base import ChunkStore
from tests.lib.clock import FakeClock

T0 = 1_750_000_000_000_000_000


class InProcessVault:
    """A started in-process vault (module docstring)."""

    def __init__(self, root: Path, store: ChunkStore | None = None,
                 max_message_bytes: int = 16 << 20, clock: FakeClock | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        cfg_path = root / "vault.toml"
        cfg_path.write_text(
            f'[server]\nlisten = "127.0.0.1:0"\nmax_message_bytes = {max_message_bytes}\n'
            "insecure = true\n"
        )
        self.config = load_config(cfg_path)
        self.store, self.catalog = open_backends(self.config, init_store=True)
        if store is not None:
            self.store.close()
            self.store = store
        self.clock = clock or FakeClock(T0, step=1_000)
        self.server, self.port = build_server(self.config, self.store, self.catalog, self.clock)
        self.server.start()
        self.address = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.stop(grace=None).wait()
        self.catalog.close()
        self.store.close()

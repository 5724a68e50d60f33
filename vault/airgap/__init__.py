"""The air-gap vault: a second vaultd that pulls from a primary only inside sync windows.

Modules, in the order a window runs them: ``config`` (vault.toml ``[airgap]``), ``schedule``
(cron windows), ``hooks`` (commands at open and close), ``pins`` (node keys pinned on first
sight), ``copy`` (one primary record to the local one), ``puller`` (the pull itself),
``state`` (cursor and last result), ``window`` (one window from open to close, audit and
metrics), ``runner`` (the schedule's thread). None of them imports gRPC: the primary is
reached through the ``puller.Source`` protocol, which ``vault.rpc.primary_client`` implements.
"""

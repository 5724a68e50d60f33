"""Reading snapshots back: ``reader`` opens a committed snapshot (signature, sealed root,
manifest), ``fetcher`` fetches and decrypts chunks in order, ``run`` writes files under a
target, ``verify`` checks every chunk and file without writing.
"""

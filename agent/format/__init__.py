"""The Bulwark v1 data format, as protos/FORMAT.md describes it: pure functions, no I/O.

One module per FORMAT.md section: ``constants`` (frozen values), ``chunker``, ``crypto`` (ids,
keys, sealing, signatures), ``codec`` and ``planes`` (payload encodings), ``blob``,
``manifest``, ``snapshot`` (the signed header), ``pathsafe`` (manifest path rules).
"""

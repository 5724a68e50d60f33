"""One backup run and its stages, in pipeline order.

``scanner`` walks the sources, ``source_file`` opens what it found, ``read_ahead`` reads small
files on threads, ``cache`` skips unchanged files, ``tensors`` finds float tensors for the
codec, ``seal_lanes`` compresses and encrypts chunks into blobs (whose hash is their id) off
the reading thread, ``uploader`` sends what the vault lacks, and ``run`` ties them together
into a committed snapshot.
"""

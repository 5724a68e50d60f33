"""The SQLite catalog and what reads it: the database (``db``), its schema and migrations
(``schema``), the snapshot record (``record``), streamed queries (``query``), vault-side
tags (``tags``), keyless statistics (``stats``) and the catalog/store check (``check``)."""

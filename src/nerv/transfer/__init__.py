"""Getting state out and back in: backups, restore, checks, export and import.

This is part of the storage layer, so it works on the SQLite connection
directly (the service's typed API is about single entities):

- ``tables``: which tables exist, in which order, and how rows are identified;
- ``backup``: online backups, retention and restore;
- ``checks``: integrity / foreign-key / schema checks, checkpoint and vacuum;
- ``export``: the streamed, deterministic ``nerv-export`` document;
- ``reader``: incremental readers for both export layouts;
- ``importer``: validate, then merge in one transaction.
"""

from __future__ import annotations

FORMAT_NAME = "nerv-export"
FORMAT_VERSION = 1
# Versions of the export document this code reads (see reader.upgrade_record).
SUPPORTED_VERSIONS = (1,)

"""The schema version this nerv writes, as a bare number.

``nerv-hook`` compares ``PRAGMA user_version`` with this on every call without
importing the migration code. Keep it equal to ``len(MIGRATIONS)`` in
nerv.db.migrations (tests/hook checks); a stale value only costs the hook a
slower start, never a wrong answer: on any mismatch it asks the migration code.
"""

SCHEMA_VERSION = 12

"""The ``nerv`` command line: a thin face over DatabaseService (no SQL here)."""

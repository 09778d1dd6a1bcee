"""The write core: the only code that writes rows and audit rows.

Every change to the state database goes through these modules, whoever asks
for it: the service's mixins (which validate, build dataclasses and call in
here), nerv-hook (which calls in directly: it cannot afford the service's
imports on every tool call), and usage ingest. One transaction helper
(``tx.Transaction``: ``BEGIN IMMEDIATE``, a savepoint when nested), one audit
writer (``audit.write``), one statement per kind of change.

Standard library plus nerv's tiny ``errors``, ``ids``, ``env`` and
``db.version`` modules only: the hook imports this package, and a test keeps
that true. This ``__init__`` imports nothing, so the hook loads only the
modules it uses.
"""

"""nerv-hook, the Claude Code hook: everything nerv knows about hooks lives in this package.

* ``events``: the events the hook handles, the matchers ``nerv hooks install``
  registers them with, and the timeouts (Claude Code's, the hook's own deadline);
* ``io``: environment, payload, answers (ASCII-safe JSON) and the log;
* ``watchdog``: the internal deadline that answers ``ask`` if the hook runs long;
* ``run``: the entry point (``nerv-hook`` = ``nerv.hook:main``, ``python -m nerv.hook``).

Standard library and nerv's small modules only (a test runs the hook under
``-X importtime``); the database is reached through :mod:`nerv.store`.
"""

from nerv.hook.run import main

__all__ = ["main"]

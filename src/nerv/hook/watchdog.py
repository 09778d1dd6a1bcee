"""The hook's own deadline: answer ``ask`` and exit if the work runs too long.

Claude Code kills a hook that outlives its timeout and then lets the call
through, so a hook that hangs (a pathological command, a database lock held
for minutes, a bug) must still answer. A daemon thread sleeps until the
deadline; if the hook has not claimed the right to answer by then, the
thread writes the ask answer itself and ends the process. A thread rather
than ``signal.alarm``: a Python signal handler waits for the main thread to
return from C code (SQLite's busy wait, for one), a thread does not.
Exactly one answer is ever written: whoever claims first, under one lock.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


class Watchdog:
    def __init__(self, seconds: float, last_words: Callable[[], bytes]) -> None:
        self._cond = threading.Condition()
        self._deadline = time.monotonic() + seconds
        self._claimed = False
        self._last_words = last_words
        self.speak = True  # False: end silently (events whose answer is "nothing")
        threading.Thread(target=self._watch, name="nerv-hook-watchdog", daemon=True).start()

    def extend_to(self, deadline: float) -> None:
        """Move the deadline (time.monotonic) later, e.g. for the queued wait."""
        with self._cond:
            self._deadline = max(self._deadline, deadline)
            self._cond.notify()

    def claim(self) -> bool:
        """The caller may write its answer (True), or the watchdog already did (False)."""
        with self._cond:
            if self._claimed:
                return False
            self._claimed = True
            self._cond.notify()
            return True

    def _watch(self) -> None:
        with self._cond:
            while not self._claimed:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    self._claimed = True
                    try:
                        words = self._last_words()
                        if self.speak:
                            os.write(1, words)
                    finally:
                        os._exit(0)
                self._cond.wait(remaining)

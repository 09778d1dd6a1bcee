"""Live updates: a change counter the dashboard follows, and what each session is doing.

:class:`ChangeFeed` watches the database with ``PRAGMA data_version`` (it
changes whenever any other connection commits, in this process or another:
a command hook, the CLI) every ``POLL_S``, and is also poked directly by the
server after a write it handled, so a call queued through the http hook shows
at once. ``GET /api/events`` streams the counter as server-sent events.

:class:`Activity` remembers, per Claude Code session, the last hook event the
server saw: working (a prompt or a tool call), waiting for permission (a
Notification that asks for it, or a call in nerv's queue) or idle (Stop).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from nerv.ids import now_ms

POLL_S = 0.05

# hook event -> the activity it starts
ACTIVITY_ON_EVENT = {
    "SessionStart": "idle",
    "UserPromptSubmit": "working",
    "PreToolUse": "working",
    "PostToolUse": "working",
    "PermissionRequest": "waiting",
    "Stop": "idle",
    "SubagentStop": "working",
    "SessionEnd": "ended",
}


class ChangeFeed:
    """A counter bumped on every committed change; waiters wake up when it moves."""

    def __init__(self, db_path: str, poll_s: float = POLL_S) -> None:
        self._cond = threading.Condition()
        self.version = 0
        self._stopped = False
        self._db_path = db_path
        self._poll_s = poll_s
        self._thread = threading.Thread(target=self._watch, name="nerv-serve-changes", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        with self._cond:
            self.version += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """The version once it differs from ``seen`` (or when ``timeout`` passes, or on stop)."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != seen or self._stopped, timeout)
            return self.version

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        try:
            conn = sqlite3.connect(f"file:{self._db_path}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            last = None
            while not self._stopped:
                try:
                    seen = conn.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error:
                    seen = last
                if last is not None and seen != last:
                    self.poke()
                last = seen
                time.sleep(self._poll_s)
        finally:
            conn.close()


class Activity:
    """Claude Code session id -> (activity, since, last event); fed by the http hook."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, int, str]] = {}

    def record(self, payload: Any) -> bool:
        """Note one hook event; True when a session's activity changed."""
        if not isinstance(payload, dict):
            return False
        session = payload.get("session_id")
        event = payload.get("hook_event_name")
        if not isinstance(session, str) or not isinstance(event, str):
            return False
        state = ACTIVITY_ON_EVENT.get(event)
        if event == "Notification":
            state = "waiting" if _asks_permission(payload) else None
        if state is None:
            return False
        with self._lock:
            previous = self._sessions.get(session)
            if state == "ended":
                self._sessions.pop(session, None)
                return previous is not None
            if previous is not None and previous[0] == state:
                return False
            self._sessions[session] = (state, now_ms(), event)
            return True

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                sid: {"activity": state, "since": since, "event": event}
                for sid, (state, since, event) in self._sessions.items()
            }


def _asks_permission(payload: dict[str, Any]) -> bool:
    """A Notification that waits on the user for a permission (not an idle reminder)."""
    kind = payload.get("notification_type")
    if isinstance(kind, str):
        return kind == "permission_prompt"
    message = payload.get("message")
    return isinstance(message, str) and "permission" in message.lower()

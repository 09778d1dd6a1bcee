"""A separate process for the concurrency tests: wait at a barrier, then write.

    python svc_worker.py DB BARRIER_DIR INDEX WRITES PROJECT_ID

Prints one JSON line: {"index", "written", "errors", "seconds"}. Every
exception is caught and reported, so the parent can assert there were none.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def wait_at_barrier(barrier: Path, index: int) -> None:
    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + 60
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("barrier timeout")
        time.sleep(0.001)


def main() -> int:
    db, barrier, index, writes, project_id = sys.argv[1:6]
    from nerv import DatabaseService  # imported before the barrier: the race is on the database

    errors: list[str] = []
    written = 0
    with DatabaseService(db, actor=f"worker-{index}") as service:
        wait_at_barrier(Path(barrier), int(index))
        start = time.perf_counter()
        for i in range(int(writes)):
            try:
                service.create_task(project_id, f"worker {index} task {i}")
                written += 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - start
    print(json.dumps({"index": int(index), "written": written, "errors": errors[:20], "seconds": seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Dashboard request latency on a big database: ``python tests/web/web_bench.py [DIR]``.

Not a test (pytest does not collect it). Builds a database with 1,000 tasks, 2,000
sessions, 5,000 decided and 20 pending approval requests, serves it from a thread
and times each endpoint over real HTTP (median and p90 of 30 requests, after one
warm-up). The figures are in docs/performance.md, "Dashboard".
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from nerv import DatabaseService
from nerv.web import make_server

STATUSES = ("todo", "in_progress", "interrupted", "review", "done")


def build(path: Path) -> tuple[str, str]:
    with DatabaseService(path, actor="bench") as svc, svc.transaction():
        project = svc.create_project("bench")
        tasks = [svc.create_task(project.id, f"task {i}", status=STATUSES[i % 5]) for i in range(1000)]
        for i in range(2000):
            svc.create_session(project.id, tasks[i % 1000].id, cost_usd=0.01 * i)
        for i in range(5000):
            request = svc.create_request("Bash", {"command": f"echo {i}"}, project_id=project.id)
            svc.decide_request(request.id, "approved" if i % 2 else "denied")
        for i in range(20):
            svc.create_request("Bash", {"command": f"npm run job-{i}"}, project_id=project.id, cwd="/tmp")
        return project.id, tasks[0].id


def main(folder: Path) -> None:
    project_id, task_id = build(folder / "bench.db")
    server = make_server(folder / "bench.db", port=0, actor="bench")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = server.url.rstrip("/")

    def get(path: str) -> Callable[[], bytes]:
        def run() -> bytes:
            with urllib.request.urlopen(base + path) as response:
                return bytes(response.read())

        return run

    moves = iter(["review", "todo"] * 100)

    def move() -> bytes:
        body = json.dumps({"status": next(moves)}).encode()
        request = urllib.request.Request(
            f"{base}/api/tasks/{task_id}/move", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request) as response:
            return bytes(response.read())

    cases: list[tuple[str, Callable[[], bytes]]] = [
        ("GET /api/health", get("/api/health")),
        ("GET /api/projects", get("/api/projects")),
        ("GET /api/projects/ID/board (1,000 tasks)", get(f"/api/projects/{project_id}/board")),
        ("GET /api/approvals (20 pending, 5,000 decided)", get("/api/approvals")),
        ("GET /api/projects/ID/costs (2,000 sessions)", get(f"/api/projects/{project_id}/costs")),
        ("GET /api/projects/ID/costs?days=90", get(f"/api/projects/{project_id}/costs?days=90")),
        ("GET /api/costs (all projects, 14 days)", get("/api/costs")),
        ("GET /api/tasks/ID (2 sessions, its audit)", get(f"/api/tasks/{task_id}")),
        ("GET /api/projects/ID/cycles (no cycles)", get(f"/api/projects/{project_id}/cycles")),
        ("GET /api/rules?project=ID (defaults)", get(f"/api/rules?project={project_id}")),
        ("GET /api/audit (latest 100 of 13,000)", get("/api/audit")),
        ("POST /api/tasks/ID/move", move),
        ("GET / (the page)", get("/")),
    ]
    print("| request | median | p90 |")
    print("|---|---|---|")
    try:
        for label, run in cases:
            run()
            times = []
            for _ in range(30):
                start = time.perf_counter()
                run()
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            print(f"| {label} | {statistics.median(times):.1f} ms | {times[26]:.1f} ms |")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))

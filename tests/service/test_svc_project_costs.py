"""project_costs is derived data kept by triggers: it must always equal the SUM it replaces."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerv import DatabaseService


def _summed(conn: sqlite3.Connection, project_id: str) -> float:
    return float(
        conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM claude_sessions WHERE project_id = ?", (project_id,)
        ).fetchone()[0]
    )


costs = st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False)
ops = st.lists(
    st.tuples(st.sampled_from(["create", "update", "metric", "move", "unassign", "delete_metric"]), costs,
              st.integers(0, 2)),
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_total_equals_sum_after_any_sequence_of_writes(
    tmp_path: Path, steps: list[tuple[str, float, int]]
) -> None:
    db = Path(tempfile.mkdtemp(dir=tmp_path)) / "costs.db"  # a fresh database per example
    with DatabaseService(db) as svc:
        projects = [svc.create_project(f"p{i}").id for i in range(3)]
        sessions: list[str] = []
        metrics: list[str] = []
        for op, cost, which in steps:
            if op == "create" or not sessions:
                sessions.append(svc.create_session(projects[which], cost_usd=cost).id)
            elif op == "update":
                svc.update_session(sessions[which % len(sessions)], {"cost_usd": cost})
            elif op == "metric":
                metrics.append(svc.record_metric(sessions[which % len(sessions)], cost_usd=cost).id)
            elif op == "move":
                svc.update_session(sessions[which % len(sessions)], {"project_id": projects[which]})
            elif op == "unassign":
                svc.update_session(sessions[which % len(sessions)], {"project_id": None})
            elif op == "delete_metric" and metrics:
                with svc.transaction() as conn:
                    conn.execute("DELETE FROM metrics WHERE id = ?", (metrics.pop(),))
        for project_id in projects:
            assert abs(svc.get_project_cost(project_id) - _summed(svc.connection, project_id)) < 1e-6


def test_migration_fills_totals_for_existing_sessions(tmp_path: Path) -> None:
    from nerv.db.connection import connect
    from nerv.db.migrations import latest_version, migrate

    db = tmp_path / "old.db"
    conn = connect(db)
    migrate(conn, db, target=latest_version() - 1)
    conn.execute(
        "INSERT INTO projects (id, name, created_at, updated_at) VALUES ('p1', 'old', 1, 1)"
    )
    conn.executemany(
        "INSERT INTO claude_sessions (id, project_id, started_at, cost_usd, updated_at) "
        "VALUES (?, 'p1', 1, ?, 1)",
        [("s1", 1.25), ("s2", 2.5)],
    )
    conn.close()
    with DatabaseService(db) as svc:
        assert svc.get_project_cost("p1") == 3.75
        assert svc.connection.execute("SELECT sessions FROM project_costs").fetchone()[0] == 2


def test_deleting_a_project_drops_its_total(service: DatabaseService) -> None:
    project = service.create_project("empty")
    session = service.create_session(project.id, cost_usd=1.0)
    with service.transaction() as conn:
        conn.execute("DELETE FROM claude_sessions WHERE id = ?", (session.id,))
    assert service.get_project_cost(project.id) == 0.0
    service.delete_project(project.id)
    assert service.connection.execute("SELECT count(*) FROM project_costs").fetchone()[0] == 0

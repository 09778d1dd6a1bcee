"""Sessions, project cost and the metrics triggers through DatabaseService."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from svc_helpers import nothing_changes, one_audit_row

from nerv import DatabaseService
from nerv.errors import ConflictError, ConstraintError, NotFoundError, ValidationError
from nerv.models import Project

TOTALS = (
    "tokens_input",
    "tokens_output",
    "tokens_cache_read",
    "tokens_cache_write_5m",
    "tokens_cache_write_1h",
    "cost_usd",
)
METRIC_OF = {
    "tokens_input": "input_tokens",
    "tokens_output": "output_tokens",
    "tokens_cache_read": "cache_read_tokens",
    "tokens_cache_write_5m": "cache_write_5m_tokens",
    "tokens_cache_write_1h": "cache_write_1h_tokens",
    "cost_usd": "cost_usd",
}


def test_create_session(service: DatabaseService, project: Project) -> None:
    task = service.create_task(project.id, "t")
    with one_audit_row(service) as audit:
        session = service.create_session(project.id, task.id)
    assert (session.project_id, session.task_id, session.status, session.ended_at) == (
        project.id,
        task.id,
        "active",
        None,
    )
    assert all(getattr(session, c) == 0 for c in TOTALS)
    assert service.get_session(session.id) == session
    assert (audit[0].entity_type, audit[0].action, audit[0].after["task_id"]) == (  # type: ignore[index]
        "session",
        "create",
        task.id,
    )
    unassigned = service.create_session(None, claude_session_id="claude-1", cwd="/w", model="opus")
    assert unassigned.project_id is None
    assert service.get_session_by_claude_id("claude-1") == unassigned
    assert service.get_session_by_claude_id("claude-2") is None
    assert service.get_sessions(None) == [unassigned]


@pytest.mark.parametrize(
    ("project_id", "task_id", "kwargs", "error", "message"),
    [
        ("nope", None, {}, NotFoundError, "project not found: nope"),
        (None, "nope", {}, NotFoundError, "task not found: nope"),
        (None, None, {"status": "running"}, ValidationError, "invalid session status 'running'"),
        (None, None, {"tokens": 5}, ValidationError, "unknown session field"),
    ],
)
def test_create_session_bad_input(
    service: DatabaseService,
    project_id: str | None,
    task_id: str | None,
    kwargs: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    with nothing_changes(service), pytest.raises(error, match=message):
        service.create_session(project_id, task_id, **kwargs)


def test_claude_session_id_is_unique(service: DatabaseService) -> None:
    service.create_session(None, claude_session_id="c1")
    duplicate = r"session already exists \(same claude_session_id\)"
    with nothing_changes(service), pytest.raises(ConflictError, match=duplicate):
        service.create_session(None, claude_session_id="c1")


def test_update_and_end_session(service: DatabaseService, project: Project) -> None:
    session = service.create_session(project.id)
    with one_audit_row(service) as audit:
        updated = service.update_session(
            session.id, {"tokens_input": 1200, "tokens_output": 300, "cost_usd": 0.25}
        )
    assert (updated.tokens_input, updated.tokens_output, updated.cost_usd) == (1200, 300, 0.25)
    assert audit[0].before == {"tokens_input": 0, "tokens_output": 0, "cost_usd": 0.0}
    assert audit[0].after == {"tokens_input": 1200, "tokens_output": 300, "cost_usd": 0.25}
    assert service.get_session(session.id) == updated
    with one_audit_row(service) as audit:
        ended = service.end_session(session.id)
    assert ended.status == "completed" and ended.ended_at is not None
    assert audit[0].action == "end"
    assert service.end_session(service.create_session(project.id).id, status="failed").status == "failed"
    with pytest.raises(ValidationError):
        service.update_session(session.id, {"status": "paused"})
    with pytest.raises(ValidationError, match="cannot be changed: id"):
        service.update_session(session.id, {"id": "x"})
    with pytest.raises(NotFoundError, match="session not found: nope"):
        service.update_session("nope", {"cost_usd": 1.0})
    with nothing_changes(service), pytest.raises(NotFoundError, match="task not found"):
        service.update_session(session.id, {"task_id": "nope"})


def test_get_sessions_by_project_and_status(service: DatabaseService, project: Project) -> None:
    other = service.create_project("other")
    a = service.create_session(project.id)
    b = service.end_session(service.create_session(project.id).id)
    service.create_session(other.id)
    assert service.get_sessions(project.id) == [a, b]
    assert service.get_sessions(project.id, status="completed") == [b]
    assert service.get_sessions(project.id, status="active") == [a]
    with pytest.raises(ValidationError):
        service.get_sessions(project.id, status="done")


def test_get_project_cost(service: DatabaseService, project: Project) -> None:
    other = service.create_project("other")
    assert service.get_project_cost(project.id) == 0.0
    for cost in (0.5, 0.25, 1.0):
        service.update_session(service.create_session(project.id).id, {"cost_usd": cost})
    service.update_session(service.create_session(other.id).id, {"cost_usd": 100.0})
    metric_session = service.create_session(project.id)
    service.record_metric(metric_session.id, cost_usd=2.0, input_tokens=10)
    assert service.get_project_cost(project.id) == pytest.approx(3.75)
    assert service.get_project_cost(other.id) == pytest.approx(100.0)
    assert service.get_project_cost("nope") == 0.0


# -- metrics and the triggers that keep session totals --------------------------------


def _totals(service: DatabaseService, session_id: str) -> dict[str, float]:
    session = service.get_session(session_id)
    assert session is not None
    return {c: getattr(session, c) for c in TOTALS}


def _expected(service: DatabaseService, session_id: str, manual: dict[str, float]) -> dict[str, float]:
    metrics = service.get_metrics(session_id)
    return {c: manual[c] + sum(getattr(m, METRIC_OF[c]) for m in metrics) for c in TOTALS}


def test_record_metric_rolls_up_into_the_session(service: DatabaseService, project: Project) -> None:
    session = service.create_session(project.id)
    service.update_session(session.id, {"tokens_input": 100, "cost_usd": 1.0})
    with one_audit_row(service) as audit:
        metric = service.record_metric(
            session.id,
            external_id="msg-1",
            model="opus",
            input_tokens=10,
            output_tokens=20,
            cache_read_tokens=30,
            cache_write_5m_tokens=40,
            cache_write_1h_tokens=50,
            cost_usd=0.5,
        )
    assert (audit[0].entity_type, audit[0].action) == ("metric", "create")
    assert service.get_metrics(session.id) == [metric]
    assert _totals(service, session.id) == {
        "tokens_input": 110,
        "tokens_output": 20,
        "tokens_cache_read": 30,
        "tokens_cache_write_5m": 40,
        "tokens_cache_write_1h": 50,
        "cost_usd": 1.5,
    }
    # The same message is never counted twice.
    with nothing_changes(service), pytest.raises(ConflictError, match="external_id"):
        service.record_metric(session.id, external_id="msg-1", input_tokens=10)
    with nothing_changes(service):
        with pytest.raises(NotFoundError, match="session not found: nope"):
            service.record_metric("nope", input_tokens=1)
        with pytest.raises(ConstraintError, match="input_tokens >= 0"):
            service.record_metric(session.id, input_tokens=-1)


_EXAMPLE = itertools.count()
OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("insert"),
            st.integers(0, 10_000),
            st.integers(0, 1_000),
            st.sampled_from([0.0, 0.25, 0.5, 1.5]),
        ),
        st.tuples(
            st.just("update"),
            st.integers(0, 10_000),
            st.integers(0, 1_000),
            st.sampled_from([0.0, 0.125, 2.0]),
        ),
        st.tuples(st.just("delete"), st.integers(0, 10), st.just(0), st.just(0.0)),
        st.tuples(
            st.just("manual"), st.integers(0, 5_000), st.integers(0, 5_000), st.sampled_from([0.0, 0.5, 3.0])
        ),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_session_totals_equal_manual_plus_metrics(
    tmp_path: Path, ops: list[tuple[str, int, int, float]]
) -> None:
    """Whatever writes the metrics (service or raw SQL), totals == manual values + sum(metrics)."""
    with DatabaseService(tmp_path / f"triggers-{next(_EXAMPLE)}.db", actor="test") as service:
        session = service.create_session(None)
        other = service.create_session(None)  # must never be touched
        manual = dict.fromkeys(TOTALS, 0.0)
        conn: sqlite3.Connection = service.connection
        for op, a, b, cost in ops:
            metric_ids = [m.id for m in service.get_metrics(session.id)]
            if op == "insert":
                service.record_metric(
                    session.id, input_tokens=a, output_tokens=b, cache_read_tokens=a // 2, cost_usd=cost
                )
            elif op == "update" and metric_ids:
                conn.execute(
                    "UPDATE metrics SET input_tokens = ?, output_tokens = ?, cost_usd = ? WHERE id = ?",
                    (a, b, cost, metric_ids[0]),
                )
            elif op == "delete" and metric_ids:
                conn.execute("DELETE FROM metrics WHERE id = ?", (metric_ids[a % len(metric_ids)],))
            elif op == "manual":
                # A manual correction sets the session columns to "manual + metrics" for new manual values.
                metrics_part = {c: v - manual[c] for c, v in _totals(service, session.id).items()}
                manual.update({"tokens_input": a, "tokens_output": b, "cost_usd": cost})
                service.update_session(
                    session.id,
                    {c: manual[c] + metrics_part[c] for c in ("tokens_input", "tokens_output", "cost_usd")},
                )
            expected = _expected(service, session.id, manual)
            got = _totals(service, session.id)
            assert got == pytest.approx(expected)
        assert _totals(service, other.id) == dict.fromkeys(TOTALS, 0)
        conn.execute("DELETE FROM metrics")
        assert _totals(service, session.id) == pytest.approx(manual)

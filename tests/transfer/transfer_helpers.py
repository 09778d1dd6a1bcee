"""Shared helpers for the transfer tests: a realistic database, exports as data, comparisons."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from nerv import DatabaseService
from nerv.transfer.export import export


def populate(service: DatabaseService) -> dict[str, str]:
    """Every table with rows, through the service (so the audit log fills the normal way)."""
    alpha = service.create_project("alpha", goal="ship it")
    beta = service.create_project("beta")
    service.add_repo(alpha.id, "/src/alpha", default_branch="trunk")
    cycle = service.create_cycle(alpha.id, goal="first cycle")
    task = service.create_task(alpha.id, "write code", cycle_id=cycle.id, description='ünïcødé ✓ "quoted"')
    other = service.create_task(beta.id, "beta task", type="research")
    service.move_task(task.id, "in_progress")
    session = service.create_session(alpha.id, task.id, model="claude-x")
    service.record_metric(session.id, input_tokens=100, output_tokens=20, cost_usd=0.125, external_id="m-1")
    service.record_metric(session.id, input_tokens=7, cache_read_tokens=3, cost_usd=0.0625, external_id="m-2")
    beta_session = service.create_session(beta.id, other.id)
    service.record_metric(beta_session.id, input_tokens=1, output_tokens=1, cost_usd=1.5)
    service.update_session(beta_session.id, {"cost_usd": 2.0})  # cost recorded on the session itself
    service.create_rule("npm test", "allow", "Bash")
    service.create_rule("rm -rf:*", "deny", "Bash", project_id=alpha.id)
    service.create_request("Bash", {"command": "ls -la"}, project_id=alpha.id, session_id=session.id)
    first = service.create_decision(alpha.id, "use sqlite", context="one file", cycle_id=cycle.id)
    second = service.create_decision(alpha.id, "use sqlite, WAL")
    service.supersede_decision(first.id, second.id)
    service.set_setting("approval.mode", "ask")
    service.set_setting("budget.monthly_usd", 12.5, project_id=alpha.id)
    service.set_setting("budget.monthly_usd", 3, project_id=beta.id)
    return {"alpha": alpha.id, "beta": beta.id, "session": session.id, "task": task.id}


def empty_database(path: Path) -> Path:
    """A database at the latest schema holding no rows at all (not even the seeded default rules)."""
    with DatabaseService(path) as svc:
        conn = svc.connection
        conn.execute("BEGIN IMMEDIATE")
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT IN ('schema_migrations', 'audit_log')"
        ).fetchall():
            conn.execute(f'DELETE FROM "{name}"')
        conn.execute("COMMIT")
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
    return path


def export_text(service_or_conn: DatabaseService | sqlite3.Connection, fmt: str = "json", **kw: Any) -> str:
    conn = service_or_conn.connection if isinstance(service_or_conn, DatabaseService) else service_or_conn
    out = io.StringIO()
    export(conn, out, fmt=fmt, **kw)
    return out.getvalue()


def load_doc(text: str) -> dict[str, Any]:
    """An export (either layout) as {"header": {...}, "tables": {name: [rows]}}."""
    stripped = text.lstrip()
    if stripped.startswith("{") and '"tables":{' in stripped.split("\n", 1)[0]:
        data = json.loads(text)
        return {"header": data, "tables": data.pop("tables")}
    lines = [json.loads(line) for line in text.split("\n") if line.strip()]  # not splitlines: U+2028
    header, body = lines[0], lines[1:]
    tables: dict[str, list[Any]] = {}
    for item in body:
        if "end" in item:
            continue
        tables.setdefault(item["table"], []).append(item["row"])
    for name in body[-1]["end"]["rows"]:
        tables.setdefault(name, [])
    return {"header": header, "tables": tables}


def normalized(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without what legitimately differs: export time and import audit rows."""
    header = {k: v for k, v in doc["header"].items() if k != "exported_at"}
    tables = dict(doc["tables"])
    if "audit_log" in tables:
        tables["audit_log"] = [r for r in tables["audit_log"] if r["entity_type"] != "import"]
    return {"header": header, "tables": tables}


def snapshot(path: Path) -> dict[str, Any]:
    """Full content of a database file (every table, exported), for before/after comparisons."""
    with DatabaseService(path) as svc:
        doc = load_doc(export_text(svc))
    doc["header"].pop("exported_at")
    return doc


def import_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["tables"].get("audit_log", []) if r["entity_type"] == "import"]


def write_ndjson(path: Path, header: dict[str, Any], rows: list[tuple[str, dict[str, Any]]]) -> None:
    counts: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for table, row in rows:
            counts[table] = counts.get(table, 0) + 1
            f.write(json.dumps({"table": table, "row": row}) + "\n")
        f.write(json.dumps({"end": {"rows": counts}}) + "\n")

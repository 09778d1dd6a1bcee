"""nerv approvals list | show | approve | deny | expire."""

from __future__ import annotations

from typing import Any

import pytest

from nerv import DatabaseService


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def requests(service: DatabaseService, tmp_path: Any) -> list[Any]:
    return [
        service.create_request("Bash", {"command": "npm run deploy --prod"}, cwd=str(tmp_path)),
        service.create_request(
            "Write", {"file_path": str(tmp_path / "src" / "a.py"), "content": "x"}, cwd=str(tmp_path)
        ),
        service.create_request("WebFetch", {"url": "https://api.github.com/repos", "prompt": "x"}),
    ]


def test_list_and_show(invoke: Any, requests: list[Any]) -> None:
    text = ok(invoke("approvals", "list")).stdout
    assert "npm run deploy --prod" in text and "pending" in text and "https://api.github.com/repos" in text
    listed = ok(invoke("approvals", "list", "--json")).json()
    assert [r["id"] for r in listed] == [r.id for r in requests]
    shown = ok(invoke("approvals", "show", requests[0].id[:8], "--json")).json()
    assert shown["proposed_rules"] == ["Bash(npm run deploy --prod)", "Bash(npm run:*)"]
    assert ok(invoke("approvals", "show", requests[1].id, "--json")).json()["proposed_rules"] == [
        "Edit(/src/a.py)",
        "Edit(/src/**)",
    ]
    assert ok(invoke("approvals", "show", requests[2].id, "--json")).json()["proposed_rules"] == [
        "WebFetch(domain:api.github.com)",
        "WebFetch(domain:*.github.com)",
    ]
    text = ok(invoke("approvals", "show", requests[0].id)).stdout
    assert (
        "proposed rules" in text
        and "Bash(npm run:*)" in text
        and '"command": "npm run deploy --prod"' in text
    )


def test_approve_with_always_and_deny_with_never(
    invoke: Any, service: DatabaseService, requests: list[Any]
) -> None:
    out = ok(invoke("approvals", "approve", requests[0].id[:8], "--always", "Bash(npm run:*)")).stdout
    assert "approved" in out and "rule: allow Bash(npm run:*)" in out
    assert service.match_rule("Bash", "npm run build").action == "allow"  # type: ignore[union-attr]
    denied = ok(
        invoke(
            "approvals",
            "deny",
            requests[2].id,
            "--reason",
            "no network",
            "--never",
            "WebFetch(domain:*.github.com)",
            "--json",
        )
    ).json()
    assert (denied["status"], denied["reason"], denied["decided_by"]) == ("denied", "no network", "test")
    assert service.match_rule("WebFetch", "https://x.github.com/").action == "deny"  # type: ignore[union-attr]
    assert [r["id"] for r in ok(invoke("approvals", "list", "--json")).json()] == [requests[1].id]
    statuses = {r["id"]: r["status"] for r in ok(invoke("approvals", "list", "--all", "--json")).json()}
    assert statuses == {requests[0].id: "approved", requests[1].id: "pending", requests[2].id: "denied"}


def test_bad_rule_changes_nothing(invoke: Any, service: DatabaseService, requests: list[Any]) -> None:
    before = len(service.get_rules())
    result = invoke("approvals", "approve", requests[0].id, "--always", "Bash(npm run")
    assert result.returncode == 2 and "closing" in result.stderr
    request = service.get_request(requests[0].id)
    assert request is not None and request.status == "pending"
    assert len(service.get_rules()) == before


def test_deciding_twice_or_unknown(invoke: Any, requests: list[Any]) -> None:
    ok(invoke("approvals", "deny", requests[0].id))
    again = invoke("approvals", "approve", requests[0].id)
    assert again.returncode == 2 and "already denied" in again.stderr
    missing = invoke("approvals", "approve", "zzzzzzzz")
    assert missing.returncode == 3 and "not found" in missing.stderr


def test_expire_stale(invoke: Any, service: DatabaseService, requests: list[Any]) -> None:
    service.connection.execute(
        "UPDATE approval_requests SET created_at = created_at - 3600000 WHERE id = ?", (requests[0].id,)
    )
    expired = ok(invoke("approvals", "expire", "--json")).json()
    assert [r["id"] for r in expired] == [requests[0].id] and expired[0]["status"] == "expired"
    assert "expired 0 request(s)" in ok(invoke("approvals", "expire")).stdout


def test_empty_queue(invoke: Any, service: DatabaseService) -> None:
    assert "(no pending requests)" in ok(invoke("approvals", "list")).stdout
    assert ok(invoke("approvals", "list", "--all", "--json")).json() == []

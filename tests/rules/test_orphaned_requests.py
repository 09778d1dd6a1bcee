"""A pending request whose hook is gone (SIGKILL) expires once no hook can still be waiting."""

from __future__ import annotations

from typing import Any

from nerv import DatabaseService
from nerv.ids import now_ms
from nerv.service.approvals import ORPHAN_GRACE_MS


def _age(service: DatabaseService, request_id: str, ms: int) -> None:
    with service.transaction() as conn:
        conn.execute("UPDATE approval_requests SET created_at = ? WHERE id = ?", (now_ms() - ms, request_id))


def test_listing_expires_only_requests_no_hook_can_wait_for(service: DatabaseService, run_cli: Any) -> None:
    service.set_setting("approval.timeout_seconds", 30)
    orphan = service.create_request("Bash", {"command": "make deploy"})
    waiting = service.create_request("Bash", {"command": "make test"})
    _age(service, orphan.id, 30_000 + ORPHAN_GRACE_MS + 1_000)
    _age(service, waiting.id, 30_000)  # a hook may still be waiting on this one
    listed = run_cli("approvals", "list", "--json", check=True).json()
    assert [r["id"] for r in listed] == [waiting.id]
    gone = service.get_request(orphan.id)
    assert gone is not None and gone.status == "expired" and gone.reason
    assert service.get_audit(entity_id=orphan.id)[-1].action == "expire"
    assert service.get_request(waiting.id).status == "pending"  # type: ignore[union-attr]


def test_a_longer_project_timeout_keeps_its_requests(service: DatabaseService) -> None:
    project = service.create_project("slow reviews")
    service.set_setting("approval.timeout_seconds", 600, project_id=project.id)
    request = service.create_request("Bash", {"command": "terraform apply"}, project_id=project.id)
    _age(service, request.id, 120_000)  # past the global default, within the project's timeout
    assert service.expire_orphaned_requests() == []
    _age(service, request.id, 600_000 + ORPHAN_GRACE_MS + 1_000)
    assert [r.id for r in service.expire_orphaned_requests()] == [request.id]


def test_approving_an_orphan_is_refused(service: DatabaseService, run_cli: Any) -> None:
    orphan = service.create_request("Bash", {"command": "rm build"})
    _age(service, orphan.id, 3_600_000)
    result = run_cli("approvals", "approve", orphan.id)
    assert result.returncode == 2 and "already expired" in result.stderr

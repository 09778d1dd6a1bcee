"""nerv rules add | list | remove | enable | disable | test | import-claude | suggest."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from nerv import DatabaseService


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result


def one_error(result: Any, code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nerv: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE", "CLAUDE_CONFIG_DIR", "CLAUDE_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def test_add_list_disable_enable_remove(invoke: Any, service: DatabaseService) -> None:
    added = ok(
        invoke("rules", "add", "Bash(npm test:*)", "--allow", "--note", "tests are fine", "--json")
    ).json()
    assert (added["rule"], added["action"], added["match_key"], added["note"]) == (
        "Bash(npm test:*)",
        "allow",
        "Bash:npm",
        "tests are fine",
    )
    text = ok(invoke("rules", "add", "Read(~/.aws/**)", "--deny")).stdout
    assert text.startswith("added ") and "deny Read(~/.aws/**) (global)" in text
    listed = ok(invoke("rules", "list")).stdout
    assert "Bash(npm test:*)" in listed and "Bash(sudo:*)" in listed and "tests are fine" in listed
    rule_id = added["id"]
    assert "disabled" in ok(invoke("rules", "disable", rule_id[:6])).stdout
    assert rule_id not in [r["id"] for r in ok(invoke("rules", "list", "--json")).json()]
    assert rule_id in [r["id"] for r in ok(invoke("rules", "list", "--all", "--json")).json()]
    assert ok(invoke("rules", "enable", rule_id, "--json")).json()["enabled"] is True
    assert "removed" in ok(invoke("rules", "remove", rule_id)).stdout
    assert service.get_rule(rule_id) is None
    assert [a.action for a in service.get_audit(entity_id=rule_id)] == [
        "create",
        "disable",
        "enable",
        "delete",
    ]


def test_project_scope(invoke: Any, service: DatabaseService) -> None:
    project = service.create_project("web")
    other = service.create_project("api")
    added = ok(
        invoke("rules", "add", "Bash(make deploy)", "--ask", "--project", project.id[:6], "--json")
    ).json()
    assert added["project_id"] == project.id
    in_force = {r["id"] for r in ok(invoke("rules", "list", "--project", project.id, "--json")).json()}
    assert added["id"] in in_force
    assert added["id"] not in {
        r["id"] for r in ok(invoke("rules", "list", "--project", other.id, "--json")).json()
    }


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("rules", "add", "Bash(npm test:*)"), 2, "exactly one of --allow"),
        (("rules", "add", "Bash(npm test:*)", "--allow", "--deny"), 2, "exactly one of --allow"),
        (("rules", "add", "Bash(npm test", "--allow"), 2, "closing"),
        (("rules", "add", "Bash(x:*y:*)", "--deny"), 2, ":*"),
        (("rules", "add", "bash(rm:*)", "--deny"), 2, "unknown tool 'bash': did you mean Bash?"),
        (("rules", "add", "Bsh(ls:*)", "--allow"), 2, "did you mean Bash?"),
        (("rules", "add", "Raed(~/.ssh/**)", "--deny"), 2, "did you mean Read?"),
        (("rules", "add", "webfetch(domain:x.com)", "--allow"), 2, "did you mean WebFetch?"),
        (("rules", "add", "NoSuchTool", "--allow"), 2, "--tool-name-unchecked"),
        (("rules", "add", "*", "--allow"), 2, "would allow every tool"),
        (("rules", "add", "*", "--allow", "--tool-name-unchecked"), 2, "would allow every tool"),
        (("rules", "add", "mcp__*", "--allow"), 2, "--tool-name-unchecked"),
        (("rules", "add", "Agent(model:opus)", "--allow"), 2, "can only deny or ask"),
        (("rules", "add", "Bash(run_in_background:true)", "--allow"), 2, "can only deny or ask"),
        (("rules", "add", "WebFetch(*.python.org/*)", "--allow"), 2, "must start with a scheme"),
        (("rules", "add", "WebFetch(example.com)", "--deny"), 2, "did you mean WebFetch(domain:example.com)"),
        (("rules", "add", "WebFetch(domain:https://x.com/a)", "--deny"), 2, "WebFetch(domain:x.com)"),
        (("rules", "add", "Read(~root/.ssh/**)", "--deny"), 2, "only '~/'"),
        (("rules", "add", "WebFetch(domain:münchen.de)", "--allow"), 2, "domain:xn--mnchen-3ya.de"),
        (("rules", "add", "Bash(ls)", "--allow", "--project", "nope"), 3, "project not found"),
        (("rules", "remove", "zzzzzz"), 3, "rule not found"),
        (("rules", "test", "Bash", "{not json"), 2, "not valid"),
    ],
)
def test_errors_are_one_line(
    invoke: Any, service: DatabaseService, args: tuple[str, ...], code: int, fragment: str
) -> None:
    one_error(invoke(*args), code, fragment)


def test_rules_test_explains_the_decision(invoke: Any, service: DatabaseService, tmp_path: Path) -> None:
    ok(invoke("rules", "add", "Bash(npm test:*)", "--allow"))
    ok(invoke("rules", "add", "Bash(git push:*)", "--ask", "--note", "review first"))
    out = ok(invoke("rules", "test", "Bash", "npm test && sudo rm -rf /")).stdout
    assert out.startswith("deny") and "Bash(sudo:*)" in out and "Bash(check:rm-root)" in out
    assert "parts:" in out and "sudo rm -rf /" in out
    data = ok(invoke("rules", "test", "Bash", "NODE_ENV=test npm test", "--json")).json()
    assert data["decision"] == "allow" and data["rules"][0]["rule"] == "Bash(npm test:*)"
    data = ok(invoke("rules", "test", "Bash", "git push origin main", "--json")).json()
    assert (data["decision"], data["rules"][0]["note"]) == ("ask", "review first")
    data = ok(invoke("rules", "test", "Bash", "make", "--json")).json()
    assert (data["decision"], data["approval_mode"]) == (None, "defer")
    assert "Claude Code decides" in data["hook"]
    assert "no rule decides" in ok(invoke("rules", "test", "Bash", "make")).stdout
    # A path for file tools, a URL for WebFetch, or a JSON object.
    assert ok(invoke("rules", "test", "Read", "~/.ssh/id_rsa", "--json")).json()["decision"] == "deny"
    ok(invoke("rules", "add", "WebFetch(domain:python.org)", "--allow"))
    assert (
        ok(invoke("rules", "test", "WebFetch", "https://python.org/x", "--json")).json()["decision"]
        == "allow"
    )
    data = ok(
        invoke(
            "rules",
            "test",
            "Write",
            json.dumps({"file_path": "src/x.py", "content": "x"}),
            "--cwd",
            str(tmp_path),
            "--json",
        )
    ).json()
    assert data["input"]["file_path"] == "src/x.py" and data["cwd"] == str(tmp_path)


def test_rules_test_uses_the_project_of_cwd(invoke: Any, service: DatabaseService, tmp_path: Path) -> None:
    project = service.create_project("web")
    service.add_repo(project.id, str(tmp_path))
    service.create_rule_from_text("Edit(/src/**)", "allow", project_id=project.id)
    data = ok(
        invoke("rules", "test", "Edit", str(tmp_path / "src" / "a.py"), "--cwd", str(tmp_path), "--json")
    ).json()
    assert (data["decision"], data["project_id"]) == ("allow", project.id)
    assert (
        ok(invoke("rules", "test", "Edit", str(tmp_path / "src" / "a.py"), "--cwd", "/", "--json")).json()[
            "decision"
        ]
        is None
    )


CLAUDE_SETTINGS = {
    "permissions": {
        "allow": ["Bash(npm run lint)", "Bash(npm run test:*)", "Read(~/.zshrc)", "mcp__github"],
        "ask": ["Bash(git push:*)"],
        "deny": ["WebFetch", "Bash(curl:*)", "Read(./.env)", "Read(./secrets/**)", "Bash(oops"],
        "additionalDirectories": ["../docs/"],
        "defaultMode": "acceptEdits",
    },
    "env": {"X": "1"},
}


def test_import_claude_default_path_and_idempotence(
    invoke: Any, service: DatabaseService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "settings.json").write_text(json.dumps(CLAUDE_SETTINGS))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    first = ok(invoke("rules", "import-claude", "--json")).json()
    assert first["path"] == str(config / "settings.json")
    assert len(first["added"]) == 9 and first["skipped"] == []
    assert len(first["invalid"]) == 1 and "Bash(oops" in first["invalid"][0]
    text = ok(invoke("rules", "import-claude")).stdout
    assert "0 added, 9 already present, 1 invalid" in text
    assert service.match_rule("Bash", "curl https://x") is not None
    assert service.match_rule("WebFetch", "https://x.org").action == "deny"  # type: ignore[union-attr]


def test_import_claude_explicit_path_and_errors(
    invoke: Any, service: DatabaseService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    one_error(invoke("rules", "import-claude"), 2, "settings file not found", str(tmp_path / "home"))
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    one_error(invoke("rules", "import-claude", str(bad)), 2, "not valid JSON")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"model": "x"}))
    assert "0 added" in ok(invoke("rules", "import-claude", str(empty))).stdout
    project = service.create_project("p")
    good = tmp_path / "local.json"
    good.write_text(json.dumps({"permissions": {"allow": ["Bash(make:*)"]}}))
    added = ok(invoke("rules", "import-claude", str(good), "--project", project.id, "--json")).json()["added"]
    rule = service.get_rule(added[0]["id"])
    assert rule is not None and rule.project_id == project.id and str(good) in (rule.note or "")


def test_suggest(invoke: Any, service: DatabaseService) -> None:
    assert "no suggestions" in ok(invoke("rules", "suggest")).stdout
    for command in ["npm test", "npm test --watch", "npm test -- x"]:
        request = service.create_request("Bash", {"command": command}, cwd=os.getcwd())
        service.decide_request(request.id, "approved")
    for command in ["terraform destroy", "terraform destroy -auto-approve"]:
        request = service.create_request("Bash", {"command": command}, cwd=os.getcwd())
        service.decide_request(request.id, "denied")
    found = ok(invoke("rules", "suggest", "--json")).json()
    assert {k: v for k, v in found[0].items() if k != "examples"} == {
        "action": "allow",
        "rule": "Bash(npm test:*)",
        "approved": 3,
        "denied": 0,
    }
    assert not any(s["action"] == "deny" for s in found)  # denied only twice
    found = ok(invoke("rules", "suggest", "--min", "2", "--json")).json()
    assert any(s == {**s, "action": "deny", "rule": "Bash(terraform destroy:*)"} for s in found)
    text = ok(invoke("rules", "suggest", "--min", "2")).stdout
    assert "nerv rules add 'Bash(npm test:*)' --allow" in text


def test_adding_an_existing_rule_succeeds_without_a_second_row(invoke: Any, service: DatabaseService) -> None:
    before = [r.id for r in service.get_rules()]
    default = service.find_rule("Bash", "sudo:*", "deny")
    assert default is not None
    text = ok(invoke("rules", "add", "Bash(sudo:*)", "--deny")).stdout
    assert text.startswith(f"already exists {default.id[:8]}: deny Bash(sudo:*) (global)"), text
    again = ok(invoke("rules", "add", " Bash( sudo:* ) ", "--deny", "--json")).json()
    assert (again["id"], again["created"], again["rule"]) == (default.id, False, "Bash(sudo:*)")
    assert [r.id for r in service.get_rules()] == before
    assert len([a for a in service.get_audit(entity_id=default.id) if a.action == "create"]) <= 1
    # Twice from a script: the first adds, the second finds it.
    first = ok(invoke("rules", "add", "Bash(make test)", "--allow", "--json")).json()
    second = ok(invoke("rules", "add", "Bash(make test)", "--allow", "--json")).json()
    assert (first["created"], second["created"], first["id"]) == (True, False, second["id"])
    # Another action or scope is another rule.
    assert ok(invoke("rules", "add", "Bash(make test)", "--ask", "--json")).json()["created"] is True
    project = service.create_project("web")
    scoped = ok(invoke("rules", "add", "Bash(make test)", "--allow", "--project", project.id,
                       "--json")).json()
    assert scoped["created"] is True and scoped["id"] != first["id"]
    service.set_rule_enabled(first["id"], False)
    shown = ok(invoke("rules", "add", "Bash(make test)", "--allow")).stdout
    assert "disabled" in shown and f"nerv rules enable {first['id'][:8]}" in shown


@pytest.mark.parametrize(
    "rule",
    ["mcp__github", "mcp__github__create_issue", "mcp__my-server__*", "Agent(explore)", "Task(explore)",
     "WebSearch", "Skill(review)", "NotebookEdit(/x/**)"],
)
def test_known_and_mcp_tool_names_are_accepted(invoke: Any, rule: str) -> None:
    assert ok(invoke("rules", "add", rule, "--allow", "--json")).json()["created"] is True


def test_tool_name_unchecked_accepts_new_names_and_mcp_globs(invoke: Any, service: DatabaseService) -> None:
    for rule in ("FutureTool", "mcp__*", "mcp__srv__get_*"):
        added = ok(invoke("rules", "add", rule, "--allow", "--tool-name-unchecked", "--json")).json()
        assert added["rule"] == rule and service.get_rule(added["id"]) is not None
    # deny and ask tool globs need no flag: refusing more is always safe
    assert ok(invoke("rules", "add", "mcp__*", "--deny", "--json")).json()["created"] is True
    assert ok(invoke("rules", "add", "*", "--ask", "--json")).json()["created"] is True

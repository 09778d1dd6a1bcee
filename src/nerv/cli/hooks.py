"""nerv hooks install | uninstall | status (nerv-hook in Claude Code's settings files)."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from nerv import env
from nerv.cli.context import AppContext, pass_app
from nerv.cli.output import echo, emit_json, json_option
from nerv.hook.events import CLAUDE_DEFAULT_TIMEOUT_S, EVENTS
from nerv.hook.events import install_timeout as claude_timeout


@click.group()
def hooks() -> None:
    """Install nerv-hook into Claude Code's settings (user or project), remove it, or show its status."""


def user_settings() -> Path:
    return env.claude_user_settings()


def project_settings(directory: str) -> Path:
    return Path(directory).expanduser().resolve() / ".claude" / "settings.json"


def hook_executable() -> list[str]:
    """The console script next to this interpreter (not a version-manager shim), else ``python -m``."""
    script = Path(sys.executable).with_name("nerv-hook")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "nerv.hook"]


def is_nerv_command(command: Any) -> bool:
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return False
    if os.path.basename(words[0]) == "nerv-hook":
        return True
    return any(a == "-m" and b == "nerv.hook" for a, b in itertools.pairwise(words))


def _is_nerv_handler(handler: Any) -> bool:
    from nerv.cli.hookshttp import is_nerv_http

    return isinstance(handler, dict) and (is_nerv_command(handler.get("command")) or is_nerv_http(handler))


def _load(path: Path) -> dict[str, Any]:
    from nerv.errors import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{path} is not valid JSON ({exc}); left untouched") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path} does not hold a JSON object; left untouched")
    return data


def _render(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, keeping the file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_render(data))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _hooks_object(data: dict[str, Any], path: Path, create: bool) -> dict[str, Any] | None:
    from nerv.errors import ValidationError

    hooks_obj = data.get("hooks")
    if hooks_obj is None:
        if not create:
            return None
        hooks_obj = data["hooks"] = {}
    if not isinstance(hooks_obj, dict):
        raise ValidationError(f"{path}: 'hooks' is not an object; left untouched")
    return hooks_obj


def install_into(data: dict[str, Any], path: Path, command: str, timeout: int) -> list[str]:
    """Merge nerv's entries into ``data``; returns the events that changed (empty: already installed)."""
    from nerv.errors import ValidationError

    hooks_obj = _hooks_object(data, path, create=True)
    assert hooks_obj is not None
    changed: list[str] = []
    for event, matcher in EVENTS.items():
        groups = hooks_obj.get(event)
        if groups is None:
            groups = []
        if not isinstance(groups, list):
            raise ValidationError(f"{path}: hooks.{event} is not a list; left untouched")
        wanted = {"type": "command", "command": command, "timeout": timeout}
        found = False
        event_changed = False
        emptied: list[int] = []
        for group in groups:
            if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                continue
            kept = []
            for handler in group["hooks"]:
                if _is_nerv_handler(handler):
                    if found:
                        event_changed = True  # a duplicate: drop it
                        continue
                    found = True
                    if any(handler.get(k) != v for k, v in wanted.items()):
                        handler.update(wanted)
                        event_changed = True
                kept.append(handler)
            if group["hooks"] and not kept:
                emptied.append(id(group))
            group["hooks"] = kept
        if not found:
            entry: dict[str, Any] = {"matcher": matcher} if matcher is not None else {}
            entry["hooks"] = [wanted]
            groups.append(entry)
            event_changed = True
        hooks_obj[event] = [g for g in groups if id(g) not in emptied]
        if event_changed:
            changed.append(event)
    return changed


def uninstall_from(data: dict[str, Any], path: Path) -> list[str]:
    """Remove nerv's handlers (and the groups / events / 'hooks' they leave empty)."""
    hooks_obj = _hooks_object(data, path, create=False)
    if hooks_obj is None:
        return []
    changed: list[str] = []
    for event in list(hooks_obj):
        groups = hooks_obj[event]
        if not isinstance(groups, list):
            continue
        new_groups = []
        removed = False
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                kept = [h for h in group["hooks"] if not _is_nerv_handler(h)]
                if len(kept) != len(group["hooks"]):
                    removed = True
                    if not kept:
                        continue  # the group held only nerv: it goes
                    group["hooks"] = kept
            new_groups.append(group)
        if removed:
            changed.append(event)
            if new_groups:
                hooks_obj[event] = new_groups
            else:
                del hooks_obj[event]
    if changed and not hooks_obj:
        del data["hooks"]
    return changed


def _target(project: str | None, user: bool) -> Path:
    if project is not None and user:
        raise click.UsageError("give either --project DIR or --user")
    return project_settings(project) if project is not None else user_settings()


target_options = [
    click.option("--project", metavar="DIR", type=click.Path(exists=True, file_okay=False),
                 help="The project's .claude/settings.json under DIR."),
    click.option("--user", is_flag=True,
                 help="~/.claude/settings.json (the default; honours CLAUDE_CONFIG_DIR)."),
]


def _with_target(func: Any) -> Any:
    for option in reversed(target_options):
        func = option(func)
    return func


@hooks.command("install")
@_with_target
@click.option("--http", "http_mode", is_flag=True,
              help="Install http hooks that call `nerv serve` (user settings only: they carry its token).")
@click.option("--url", default="http://127.0.0.1:8765", show_default=True, help="Where nerv serve listens.")
@click.option("--on-failure", type=click.Choice(["auto", "block", "continue"]), default="auto",
              show_default=True, help="--http: PreToolUse's onFailure (auto: block where Claude Code can).")
@click.option("--otel", is_flag=True, help="Also send Claude Code's telemetry to nerv serve (user settings).")
@json_option
@pass_app
def install(
    app: AppContext, project: str | None, user: bool, http_mode: bool, url: str, on_failure: str, otel: bool,
    as_json: bool,
) -> None:
    """Add nerv-hook for every event it handles (PreToolUse, PermissionRequest, PostToolUse,
    SessionStart, UserPromptSubmit, Stop, SessionEnd).

    Everything else in the file is kept; running it again changes nothing. The
    entries' "timeout" exceeds approval.timeout_seconds by 30 s (at least 60 s),
    so a queued call is always answered (denied at worst) before Claude Code
    would give up on the hook and let the call through. The file's bytes from
    before the first install are kept in $NERV_HOME, for uninstall to put back.
    """
    import copy

    from nerv.cli import hookbackup

    path = _target(project, user)
    timeout = claude_timeout(app.service().get_setting("approval.timeout_seconds"))
    if http_mode or otel:
        _install_http(app, path, project, url, timeout, on_failure, http_mode, otel, as_json)
        return
    command = " ".join(shlex.quote(w) for w in [*hook_executable(), "--timeout", str(timeout)])
    before = hookbackup.read_bytes(path)
    data = _load(path)
    from nerv.cli.hookshttp import remove_http_from

    remove_http_from(data)  # a command install replaces nerv's http hooks
    had_nerv = bool(uninstall_from(copy.deepcopy(data), path))
    changed = install_into(data, path, command, timeout)
    backup = hookbackup.backup_file(path) if hookbackup.load(path) else None
    if changed:  # the backup is written before the file is changed
        backup = hookbackup.remember(path, before, _render(data), had_nerv)
        _save(path, data)
    if as_json:
        emit_json({"path": str(path), "command": command, "timeout": timeout, "changed": changed,
                   "backup": None if backup is None else str(backup)})
    elif changed:
        echo(f"installed nerv-hook in {path} ({', '.join(changed)}; timeout {timeout} s)")
    else:
        echo(f"nerv-hook already installed in {path}")


def _install_http(
    app: AppContext, path: Path, project: str | None, url: str, timeout: int, on_failure: str,
    http_mode: bool, otel: bool, as_json: bool,
) -> None:
    """--http / --otel: see nerv.cli.hookshttp."""
    from nerv.cli import hookshttp
    from nerv.serve.token import load_or_create

    if project is not None:
        raise click.UsageError("--http and --otel write the server's token: only into user settings (--user)")
    token = load_or_create()
    data = _load(path)
    changed: list[str] = []
    mirrored: list[str] = []
    block = False
    if http_mode:
        block = hookshttp.fail_closed(on_failure)
        changed = hookshttp.install_http_into(data, url, token, timeout, block, _is_nerv_handler)
        rules = [(r.tool, r.pattern) for r in app.service().get_rules()
                 if r.action == "deny" and r.enabled and r.project_id is None]
        mirrored = hookshttp.mirror_denies(data, path, rules)
    env_changed = hookshttp.add_otel(data, path, url, token) if otel else []
    _save(path, data)
    os.chmod(path, 0o600)  # it holds the token
    if as_json:
        emit_json({"path": str(path), "mode": "http" if http_mode else None, "url": url, "timeout": timeout,
                   "on_failure_block": block, "changed": changed, "mirrored_deny": mirrored,
                   "env": env_changed})
        return
    if http_mode:
        echo(f"installed nerv http hooks in {path} -> {url} ({', '.join(changed) or 'unchanged'}; "
             f"timeout {timeout} s{'; PreToolUse fails closed' if block else ''})")
        echo(f"mirrored {len(mirrored)} new deny rule(s) into permissions.deny "
             "(a stopped server opens nothing)")
    if otel:
        echo(f"telemetry: {len(env_changed)} env setting(s) send Claude Code's OTLP events to {url}")


@hooks.command("uninstall")
@_with_target
@json_option
def uninstall(project: str | None, user: bool, as_json: bool) -> None:
    """Remove nerv-hook's entries (and only those) from the settings file.

    While the file is still exactly what install wrote, it is restored byte for
    byte from install's backup (or removed, if install created it); otherwise
    nerv's entries alone are taken out and everything else is kept -- with the
    deny entries and env settings install --http / --otel added.
    """
    from nerv.cli import hookbackup
    from nerv.cli.hookshttp import remove_added

    path = _target(project, user)
    data = _load(path)
    changed = uninstall_from(data, path)
    removed = remove_added(data, path)
    restored = hookbackup.restore(path)
    if not restored:
        if changed or removed:
            _save(path, data)
        hookbackup.forget(path)  # the file changed since install: that backup is stale
    if as_json:
        emit_json({"path": str(path), "changed": changed, "restored": restored, "removed": removed})
    elif changed:
        how = "restored the file as it was before install" if restored else "nothing else was changed"
        echo(f"removed nerv-hook from {path} ({', '.join(changed)}); {how}")
    else:
        echo(f"nerv-hook was not installed in {path}")


def inspect_file(path: Path) -> dict[str, Any]:
    """What a settings file says about nerv-hook."""
    try:
        data = _load(path)
    except Exception as exc:
        return {"path": str(path), "exists": path.exists(), "error": str(exc), "events": {}}
    events: dict[str, Any] = {}
    hooks_obj = data.get("hooks") if isinstance(data.get("hooks"), dict) else {}
    for event, groups in (hooks_obj or {}).items():
        for group in groups if isinstance(groups, list) else []:
            for handler in group.get("hooks", []) if isinstance(group, dict) else []:
                if _is_nerv_handler(handler):
                    events[event] = {"matcher": group.get("matcher"), "command": handler.get("command"),
                                     "timeout": handler.get("timeout"), "type": handler.get("type"),
                                     "url": handler.get("url")}
    kinds = {entry["type"] for entry in events.values()}
    mode = None
    if kinds:
        mode = "http" if kinds == {"http"} else "command" if "http" not in kinds else "mixed"
    return {"path": str(path), "exists": path.exists(), "events": events, "mode": mode}


@hooks.command("status")
@click.option("--project", metavar="DIR", default=".", show_default=True,
              help="Project whose .claude/settings.json to check (besides the user's).")
@json_option
@pass_app
def status(app: AppContext, project: str, as_json: bool) -> None:
    """Where nerv-hook is installed, with what command and timeout, and whether that is consistent."""
    approval_timeout = app.service().get_setting("approval.timeout_seconds")
    mode = app.service().get_setting("approval.mode")
    report = []
    for scope, path in (("user", user_settings()), ("project", project_settings(project))):
        info = inspect_file(path)
        info["scope"] = scope
        problems: list[str] = []
        for event, entry in info["events"].items():
            command = entry.get("command") or ""
            try:
                exe = shlex.split(command)[0]
            except (ValueError, IndexError):
                exe = ""
            if exe and os.path.isabs(exe) and not os.access(exe, os.X_OK):
                problems.append(f"{event}: {exe} is not an executable file")
            timeout = entry.get("timeout")
            if event == "PreToolUse" and isinstance(approval_timeout, int | float):
                effective = timeout if isinstance(timeout, int | float) else CLAUDE_DEFAULT_TIMEOUT_S
                if effective < approval_timeout + 10:
                    problems.append(f"PreToolUse timeout {effective} s is too short for approval."
                                    f"timeout_seconds {approval_timeout}: run nerv hooks install again")
        missing = [e for e in EVENTS if e not in info["events"]]
        if info["events"] and missing:
            problems.append(f"not installed for {', '.join(missing)}")
        info["server_answers"] = None
        if info["mode"] in ("http", "mixed"):
            from urllib.parse import urlsplit

            from nerv.cli.hookshttp import server_answers

            url = next(e["url"] for e in info["events"].values() if e.get("url"))
            parts = urlsplit(url)
            info["server_answers"] = server_answers(f"{parts.scheme}://{parts.netloc}")
            if not info["server_answers"]:
                problems.append(f"nerv serve does not answer at {parts.netloc}: tool calls fall back to "
                                "Claude Code's own rules (nerv's deny rules are mirrored there); "
                                "start it with `nerv serve`")
        info["problems"] = problems
        report.append(info)
    if as_json:
        emit_json({"approval_mode": mode, "approval_timeout_seconds": approval_timeout, "files": report})
        return
    echo(f"approval.mode {mode}, approval.timeout_seconds {approval_timeout}")
    for info in report:
        state = f"installed ({info['mode']} hooks)" if info["events"] else "not installed"
        if info["server_answers"] is not None:
            state += ", server " + ("answers" if info["server_answers"] else "does not answer")
        echo(f"{info['scope']}: {info['path']}: {state}")
        if info.get("error"):
            echo(f"  ! {info['error']}")
        for event, entry in info["events"].items():
            target = entry["command"] if entry.get("type") != "http" else entry["url"]
            echo(f"  {event}: {target} (timeout {entry['timeout']})")
        for problem in info["problems"]:
            echo(f"  ! {problem}")

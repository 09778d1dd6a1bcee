"""Ingest into the database: real sample files in Claude Code's layouts, figures derived by hand
(usage_helpers.EXPECTED), incremental reads, dedup, stream-json results and unknown models."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from usage_helpers import (
    AGENT_PROGRESS,
    EXPECTED,
    INLINE,
    S_ARRAY,
    S_BASIC,
    S_INLINE,
    S_PROGRESS,
    S_SHORT,
    S_SUBAGENT,
    S_TOOL,
    SAMPLES,
    SHORT,
    STREAM_ARRAY,
    STREAM_BASIC,
    SUBAGENT,
    TOOL_HEAVY,
    TRANSCRIPT_SESSIONS,
    Tree,
    assert_totals_are_metric_sums,
    audit_count,
    metric_count,
    session_totals,
)

import nerv.service.ingest as usage_store
import nerv.usage.ingest as ingest_module
from nerv import DatabaseService
from nerv.db.migrations import MIGRATIONS
from nerv.usage.ingest import read_batches
from nerv.usage.records import LineKind, TokenUsage, dedupe
from nerv.usage.transcripts import scan_transcript


def _check_expected(service: DatabaseService, sessions: tuple[str, ...] | list[str]) -> None:
    for claude_id in sessions:
        tokens, cost, responses = EXPECTED[claude_id]
        got_tokens, got_cost = session_totals(service, claude_id)
        assert got_tokens == tokens, claude_id
        assert got_cost == pytest.approx(cost, abs=1e-9), claude_id
        session = service.get_session_by_claude_id(claude_id)
        assert session is not None and len(service.get_metrics(session.id)) == responses, claude_id


@pytest.mark.parametrize("name", [SHORT, TOOL_HEAVY, AGENT_PROGRESS, SUBAGENT, INLINE])
def test_fast_reader_matches_the_full_parser(name: str, tmp_path: Path) -> None:
    # read_batches decodes only lines that can carry usage; it must find exactly what
    # scan_transcript (which decodes every line) finds, and stop at the same offset.
    path = SAMPLES / name
    full = scan_transcript(path)
    with path.open("rb") as fh:
        batches = list(read_batches(fh, 0, source=str(path), fallback_session=None, batch_records=3))
    # Batches of 3 responses: copies of one response in different batches are merged here
    # as the database upsert merges them.
    assert dedupe(r for b in batches for r in b.records) == full.records
    assert batches[-1].end_offset == full.end_offset
    for kind in LineKind:
        assert sum(b.counts[kind] for b in batches) == full.counts[kind], kind


def test_migration_is_registered() -> None:
    assert "usage_ingest_state" in [m.name for m in MIGRATIONS]


def test_every_sample_matches_hand_derived_figures(service: DatabaseService, tree: Tree) -> None:
    result = service.ingest([tree.projects, tree.out])
    assert result.errors == []
    assert result.malformed_lines == 0 and result.unknown_models == {} and result.unpriced_total == 0
    assert result.files_seen == 10 and result.files_read == 7 and result.files_other == 3  # hook logs
    assert result.streams == 2 and result.streams_incomplete == 0
    assert result.sessions_created == 7
    assert result.responses_added == sum(n for _, _, n in EXPECTED.values()) == 51
    assert result.responses_updated == 0
    _check_expected(service, list(EXPECTED))
    assert_totals_are_metric_sums(service)
    # The agent-progress file's two models are two kinds of rows under one session.
    session = service.get_session_by_claude_id(S_PROGRESS)
    assert session is not None
    models = sorted({m.model or "" for m in service.get_metrics(session.id)})
    assert models == ["claude-haiku-4-5-20251001", "claude-opus-4-6"]
    # Sessions found by Claude Code's id carry what the transcript says about them.
    assert session.cwd == "/home/marco/projects/spotter" and session.project_id is None
    assert session.transcript_path == str(tree.session_file(S_PROGRESS))
    assert session.model == "claude-opus-4-6"
    times = [m.recorded_at for m in service.get_metrics(session.id)]
    assert (session.started_at, session.ended_at, session.status) == (min(times), max(times), "completed")
    # One audit row for the whole run, none per metric.
    entries = service.get_audit(entity_type="usage")
    assert [e.action for e in entries] == ["ingest"]
    assert entries[0].after is not None and entries[0].after["responses_added"] == 51
    assert service.get_audit(entity_type="metric") == []


def test_default_roots(service: DatabaseService, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree.home))
    result = service.ingest()  # ~/.claude/projects: the five transcript sessions, no stream files
    assert result.errors == [] and result.sessions_created == 5
    _check_expected(service, TRANSCRIPT_SESSIONS)


def test_reingest_is_a_noop_that_opens_nothing(
    ingested: DatabaseService, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = metric_count(ingested)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an unchanged file was opened: {args}")

    monkeypatch.setattr(usage_store, "open", no_reading, raising=False)
    monkeypatch.setattr(usage_store, "classify", no_reading)
    monkeypatch.setattr(usage_store, "read_stream", no_reading)
    again = ingested.ingest([tree.projects, tree.out])
    assert (again.files_seen, again.files_unchanged, again.files_read) == (10, 10, 0)
    assert again.responses_added == again.responses_updated == again.sessions_created == 0
    assert not again.changed and again.audit_id is None
    assert metric_count(ingested) == before
    assert audit_count(ingested) == 1  # still only the first run's


def test_rescan_of_an_unchanged_tree_takes_no_write_lock(ingested: DatabaseService, tree: Tree) -> None:
    import sqlite3

    assert ingested.path is not None
    blocker = sqlite3.connect(ingested.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        with DatabaseService(ingested.path, busy_timeout=100) as reader:
            again = reader.ingest([tree.projects, tree.out])  # would fail with "database is busy"
        assert again.files_unchanged == 10
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_touched_but_unchanged_file_adds_nothing(ingested: DatabaseService, tree: Tree) -> None:
    path = tree.session_file(S_TOOL)
    os.utime(path)  # new mtime, same bytes: read from the saved offset, finds nothing new
    again = ingested.ingest([tree.projects])
    assert again.files_read == 1 and again.bytes_read == 0 and not again.changed
    assert audit_count(ingested) == 1


def test_half_written_line_is_read_once_complete(service: DatabaseService, tmp_path: Path) -> None:
    # tool-heavy, cut in the middle of line 37 (msg_019BN3's final copy, output 173).
    data = (SAMPLES / TOOL_HEAVY).read_bytes()
    lines = data.splitlines(keepends=True)
    line37 = sum(len(x) for x in lines[:36])
    cut = line37 + len(lines[36]) // 2
    live = tmp_path / "projects" / "p" / f"{S_TOOL}.jsonl"
    live.parent.mkdir(parents=True)
    live.write_bytes(data[:cut])

    first = service.ingest([live])
    assert first.lines == 36 and first.bytes_read == line37 and first.malformed_lines == 0
    # Lines 1-36: the same 4 responses, msg_019BN3 with its line-34 placeholder output 25:
    # out 27 + 1 + 11 + 25 = 64 instead of 212; cost lower by 148 * 25 / 1e6.
    assert session_totals(service, S_TOOL)[0] == TokenUsage(54, 64, 0, 17696, 88231)

    with live.open("ab") as fh:
        fh.write(data[cut:])
    second = service.ingest([live])
    assert second.lines == 3 and second.bytes_read == len(data) - line37  # lines 37-39, each once
    assert second.responses_added == 0 and second.responses_updated == 1  # 25 -> 173
    _check_expected(service, [S_TOOL])
    third = service.ingest([live])
    assert third.files_unchanged == 1 and not third.changed
    assert_totals_are_metric_sums(service)


def test_appended_lines_are_read_once(service: DatabaseService, tmp_path: Path) -> None:
    data = (SAMPLES / SUBAGENT).read_bytes()
    lines = data.splitlines(keepends=True)
    live = tmp_path / "p" / S_SUBAGENT / "subagents" / "agent-a7be2f0.jsonl"
    live.parent.mkdir(parents=True)
    total_lines = changed = 0
    for chunk in (lines[:40], lines[40:41], lines[41:100], lines[100:]):  # four growth steps
        with live.open("ab") as fh:
            fh.write(b"".join(chunk))
        result = service.ingest([tmp_path])
        total_lines += result.lines
        changed += result.changed
    assert total_lines == 131  # every line read exactly once
    _check_expected(service, [S_SUBAGENT])
    assert audit_count(service) == changed == 3  # line 41 alone is not a response: no audit row


def test_rewritten_file_is_not_double_counted(ingested: DatabaseService, tree: Tree) -> None:
    path = tree.session_file(S_SHORT)
    data = path.read_bytes()
    # Replaced by a new file (new inode) with a different first line: read again from 0.
    replacement = path.with_suffix(".tmp")
    replacement.write_bytes(b'{"type":"summary","summary":"compacted"}\n' + data)
    os.replace(replacement, path)
    again = ingested.ingest([tree.projects])
    assert again.files_read == 1 and again.bytes_read == len(data) + 41
    assert again.responses_added == 0 and not again.changed
    # Truncated in place, then rewritten shorter: also read from 0, still nothing new.
    path.write_bytes(data[: len(data) // 2].rsplit(b"\n", 1)[0] + b"\n")
    assert ingested.ingest([tree.projects]).responses_added == 0
    _check_expected(ingested, list(EXPECTED))
    assert audit_count(ingested) == 1


def test_copies_under_another_session_add_nothing(ingested: DatabaseService, tree: Tree) -> None:
    sessions_before = ingested.connection.execute("SELECT count(*) FROM claude_sessions").fetchone()[0]
    # A resumed/forked session: the same responses written again under a new session id.
    forked = "99999999-0000-4000-8000-000000000000"
    text = tree.session_file(S_PROGRESS).read_text().replace(S_PROGRESS, forked)
    (tree.projects / "-home-marco-projects-spotter" / f"{forked}.jsonl").write_text(text)
    # And a plain copy of a whole project folder (e.g. a second config dir).
    shutil.copytree(tree.projects / "-path-to-Demo", tree.projects / "-path-to-Demo-copy")
    result = ingested.ingest([tree.projects])
    assert result.files_read == 2 and result.responses_seen == 11 + 20
    assert result.responses_added == result.responses_updated == 0
    assert result.sessions_created == 0 and not result.changed
    assert ingested.get_session_by_claude_id(forked) is None  # no empty session left behind
    assert (
        ingested.connection.execute("SELECT count(*) FROM claude_sessions").fetchone()[0] == sessions_before
    )
    _check_expected(ingested, list(EXPECTED))


def _assistant(msg: str, model: str, out: int, session: str = "sess-1", **extra: object) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": session,
            "requestId": f"req_{msg}",
            "cwd": "/work/x",
            "timestamp": "2026-02-10T10:00:00.000Z",
            "message": {"id": msg, "model": model, "usage": {"input_tokens": 100, "output_tokens": out}},
            **extra,
        }
    )


def test_malformed_lines_are_skipped_and_counted(service: DatabaseService, tmp_path: Path) -> None:
    lines = [
        _assistant("msg_ok", "claude-sonnet-4-5", 7),
        "not json at all",
        "42",
        '"massive error"',
        '{"type":"assistant","message":{"id":"msg_t',  # cut mid-object
        '{"type":"assistant","message":"oops"}',
        json.dumps(
            {"type": "assistant", "sessionId": "sess-1", "message": {"id": "m", "model": "x"}}
        ),  # no usage
        "",
        '{"type":"user","message":{"role":"user","content":"hi"}}',
        _assistant("msg_syn", "<synthetic>", 0),  # free, not stored
        _assistant("msg_ok", "claude-sonnet-4-5", 9),  # a later copy with more output
    ]
    f = tmp_path / "sess-1.jsonl"
    f.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe{bad utf8}\n")
    result = service.ingest([f])
    assert result.malformed_lines == 7 and result.synthetic == 1 and result.lines == 12
    assert result.responses_added == 1 and result.errors == []
    # Sonnet 4.5: 100 in * 3 + 9 out * 15 = 435 / 1e6
    tokens, cost = session_totals(service, "sess-1")
    assert tokens == TokenUsage(100, 9) and cost == pytest.approx(0.000435)


def test_unknown_model_is_reported_not_free(service: DatabaseService, tmp_path: Path) -> None:
    f = tmp_path / "sess-1.jsonl"
    f.write_text(
        _assistant("msg_a", "claude-opus-9", 10) + "\n" + _assistant("msg_b", "claude-sonnet-4-5", 10) + "\n"
    )
    result = service.ingest([f])
    assert result.unknown_models == {"claude-opus-9": 1} and result.unpriced_total == 1
    rows = service.usage_report("model")
    unknown = next(r for r in rows if r.key == "claude-opus-9")
    assert unknown.unpriced == 1 and unknown.cost_usd == 0.0
    assert unknown.tokens == TokenUsage(100, 10)
    # Re-ingesting reports no new unknown responses, but the database still holds one.
    again = service.ingest([f])
    assert again.unknown_models == {} and again.unpriced_total == 1

    # A price appears: the next ingest prices the stored row (input 10, output 50 per MTok).
    service.set_setting("usage.prices", {"claude-opus-9": {"input": 10, "output": 50}})
    priced = service.ingest([f])
    assert priced.repriced == 1 and priced.unpriced_total == 0 and priced.changed
    # 100*10 + 10*50 = 1500 / 1e6, plus the sonnet row 100*3 + 10*15 = 450 / 1e6
    assert session_totals(service, "sess-1")[1] == pytest.approx(0.00195)
    assert audit_count(service) == 2
    assert_totals_are_metric_sums(service)


def test_reprice_everything_after_a_price_change(ingested: DatabaseService) -> None:
    ingested.set_setting("usage.prices", {"claude-opus-4-6": {"input": 10, "output": 50}})
    changed = ingested.reprice(everything=True)
    assert changed == 6 + 4 + 1  # the opus-4-6 responses of three transcripts
    # short: 3*10 + 13*50 + 13835*20 + 11515*1 (cache rates follow input: 2x, 0.1x) = 288895 / 1e6
    assert session_totals(ingested, S_SHORT)[1] == pytest.approx(0.288895)
    assert session_totals(ingested, S_ARRAY)[1] == pytest.approx(1.8977178)  # a result's cost stays
    assert audit_count(ingested, "reprice") == 1
    assert ingested.reprice(everything=True) == 0
    assert_totals_are_metric_sums(ingested)


def test_project_from_cwd_nearest_enclosing_repo(service: DatabaseService, tree: Tree) -> None:
    outer = service.create_project("outer")
    spotter = service.create_project("spotter")
    worktrees = service.create_project("worktrees")
    decoy = service.create_project("decoy")
    service.add_repo(outer.id, "/home/marco")
    service.add_repo(spotter.id, "/home/marco/projects/spotter")
    service.add_repo(decoy.id, "/home/marco/projects/spot")  # a string prefix, not a parent folder
    service.add_repo(worktrees.id, "/home/USER/projects")
    result = service.ingest([tree.projects, tree.out])
    assert result.sessions_created == 7
    project_of = {s: service.get_session_by_claude_id(s).project_id for s in EXPECTED}  # type: ignore[union-attr]
    assert project_of == {
        S_SHORT: spotter.id,
        S_TOOL: spotter.id,
        S_PROGRESS: spotter.id,
        S_SUBAGENT: worktrees.id,  # cwd /home/USER/projects/spotter-worktrees/spotter-fum
        S_INLINE: None,  # /path/to/Demo: outside every project
        S_BASIC: None,  # /home/cyou/claude-agent-sdk-gleam
        S_ARRAY: None,
    }
    assert service.get_project_cost(spotter.id) == pytest.approx(0.1444475 + 0.2266455 + 0.3468188)

    # Assign by Claude Code's id prefix, by nerv id; unassign.
    changed = service.assign_session(S_INLINE[:8], outer.id)
    assert changed.project_id == outer.id
    nerv_id = service.get_session_by_claude_id(S_BASIC).id  # type: ignore[union-attr]
    assert service.assign_session(nerv_id[:6], decoy.id).project_id == decoy.id
    assert service.assign_session(S_BASIC, None).project_id is None
    assert [e.action for e in service.get_audit(entity_type="session")][-3:] == ["assign"] * 3
    assert service.get_project_cost(outer.id) == pytest.approx(0.33115095)

    # A repository registered later: --auto assigns by the stored cwd.
    later = service.create_project("gleam")
    service.add_repo(later.id, "/home/cyou")
    assert [s.claude_session_id for s in service.auto_assign_sessions()] == [S_BASIC]


def test_assign_errors(ingested: DatabaseService) -> None:
    from nerv.errors import AmbiguousIdError, NotFoundError

    with pytest.raises(NotFoundError):
        ingested.assign_session("zzz-no-such", None)
    with pytest.raises(AmbiguousIdError):
        ingested.assign_session("1d", None)  # 1d83341e... and 1d1e46f9...
    with pytest.raises(NotFoundError):
        ingested.assign_session(S_SHORT, "no-such-project")


def test_stream_result_replaces_transcript_rows_of_its_session(
    service: DatabaseService, tmp_path: Path
) -> None:
    # The same run seen twice: its transcript (session S_SHORT) and its stream-json output,
    # here the basic NDJSON rewritten to that session id. The result's cost wins.
    transcript = tmp_path / "projects" / "p" / f"{S_SHORT}.jsonl"
    transcript.parent.mkdir(parents=True)
    shutil.copy(SAMPLES / SHORT, transcript)
    stream = tmp_path / "run.ndjson"
    stream.write_text((SAMPLES / STREAM_BASIC).read_text().replace(S_BASIC, S_SHORT))

    service.ingest([transcript])
    assert session_totals(service, S_SHORT)[1] == pytest.approx(0.1444475)
    result = service.ingest([stream])
    assert result.replaced_by_result == 1 and result.streams == 1
    tokens, cost = session_totals(service, S_SHORT)
    assert tokens == TokenUsage(10, 25, 21570) and cost == pytest.approx(0.1354875)
    # The transcript grows later: its lines are skipped, the session stays costed by the result.
    with transcript.open("ab") as fh:
        fh.write((SAMPLES / SHORT).read_bytes().splitlines(keepends=True)[4])
    shutil.copy(SAMPLES / SHORT, tmp_path / "projects" / "p" / "copy.jsonl")
    later = service.ingest([tmp_path / "projects"])
    assert later.covered_by_result == 2 and later.responses_added == 0
    assert session_totals(service, S_SHORT)[1] == pytest.approx(0.1354875)
    assert_totals_are_metric_sums(service)


def test_unfinished_stream_counts_nothing_until_its_result(service: DatabaseService, tmp_path: Path) -> None:
    text = (SAMPLES / STREAM_ARRAY).read_text()
    f = tmp_path / "out.json"
    f.write_text(text[: len(text) // 2])
    first = service.ingest([f])
    assert first.streams_incomplete == 1 and first.responses_added == 0 and first.malformed_lines == 1
    f.write_text(text)
    second = service.ingest([f])
    assert second.streams == 1 and second.responses_added == 1
    _check_expected(service, [S_ARRAY])


def test_hook_ingest_transcript_with_subagents(service: DatabaseService, tmp_path: Path) -> None:
    folder = tmp_path / "projects" / "-p"
    main = folder / f"{S_SUBAGENT}.jsonl"
    (folder / S_SUBAGENT / "subagents").mkdir(parents=True)
    shutil.copy(SAMPLES / SUBAGENT, folder / S_SUBAGENT / "subagents" / "agent-a7be2f0.jsonl")
    # The main transcript: one Sonnet 4.5 response (100 in, 20 out = 300 + 300 = 600 / 1e6).
    line = json.loads(_assistant("msg_main", "claude-sonnet-4-5", 20, session=S_SUBAGENT))
    del line["sessionId"]  # the hook's session id stands in for lines without one
    main.write_text(json.dumps(line) + "\n")
    result = service.ingest_transcript(main, S_SUBAGENT)
    assert result.files_read == 2 and result.responses_added == 14 and result.errors == []
    tokens, cost = session_totals(service, S_SUBAGENT)
    assert tokens == EXPECTED[S_SUBAGENT][0] + TokenUsage(100, 20)
    assert cost == pytest.approx(0.0573157 + 0.0006)
    assert service.get_session_by_claude_id(S_SUBAGENT).transcript_path == str(main)  # type: ignore[union-attr]
    again = service.ingest_transcript(main, S_SUBAGENT)
    assert again.files_unchanged == 2 and not again.changed
    missing = service.ingest_transcript(tmp_path / "nope.jsonl")
    assert len(missing.errors) == 1 and not missing.changed


def test_large_file_is_written_in_batches(
    service: DatabaseService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 2 responses: copies of one response land in different batches and are
    # merged by the database upsert exactly as one pass would merge them.
    monkeypatch.setattr(ingest_module, "BATCH_RECORDS", 2)
    folder = tmp_path / "p" / S_SUBAGENT / "subagents"
    folder.mkdir(parents=True)
    shutil.copy(SAMPLES / SUBAGENT, folder / "agent-a7be2f0.jsonl")
    shutil.copy(SAMPLES / TOOL_HEAVY, tmp_path / "p" / f"{S_TOOL}.jsonl")
    result = service.ingest([tmp_path])
    assert result.responses_added == 13 + 4
    _check_expected(service, [S_SUBAGENT, S_TOOL])


def test_vanished_files_are_forgotten_but_their_usage_kept(ingested: DatabaseService, tree: Tree) -> None:
    path = tree.session_file(S_SHORT)
    path.unlink()  # Claude Code deletes old transcripts
    ingested.ingest([tree.projects])
    paths = {r[0] for r in ingested.connection.execute("SELECT path FROM ingested_files")}
    assert str(path) not in paths and str(tree.session_file(S_TOOL)) in paths
    _check_expected(ingested, [S_SHORT])


def test_missing_path_is_an_error(service: DatabaseService, tmp_path: Path) -> None:
    from nerv.errors import MissingFileError

    with pytest.raises(MissingFileError, match="path not found"):
        service.ingest([tmp_path / "nope"])

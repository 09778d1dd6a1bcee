"""Shared by the usage ingest/report/CLI tests: the sample files laid out the way
Claude Code writes them, and the per-session figures derived by hand.

The derivations (line by line, with the rates) are in test_usage_transcripts.py
and test_usage_stream_json.py; they are summarised here next to each figure.
Rates, USD per million tokens (prices.json): Opus 4.6 / 4.5: in 5, out 25,
5m write 6.25, 1h write 10, read 0.5. Haiku 4.5: 1 / 5 / 1.25 / 2 / 0.1.
Sonnet 4: 3 / 15 / 3.75 / 6 / 0.3. Opus 4: 15 / 75 / 18.75 / 30 / 1.5.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fixture_paths import SAMPLES
from nerv import DatabaseService
from nerv.usage.records import TokenUsage

SHORT = "cc-transcript-v2.1.38-opus46-short.jsonl"
TOOL_HEAVY = "cc-transcript-v2.1.38-opus46-tool-heavy.jsonl"
AGENT_PROGRESS = "cc-transcript-v2.1.38-task-agent-progress.head56.jsonl"
SUBAGENT = "cc-subagent-v2.1.39-haiku45-agent-a7be2f0.jsonl"
INLINE = "cc-transcript-v1.0.108-sonnet4-inline-sidechain.jsonl"
STREAM_ARRAY = "stream-json-2025-06-opus4-task-subagents.json"
STREAM_BASIC = "stream-json-v2.1.7-opus45-basic.ndjson"
HOOK_LOGS = (
    "hook-input-permissionrequest-2026-02.json",
    "hook-input-posttooluse-2025-07.json",
    "hook-input-pretooluse-2025-07.json",
)

S_SHORT = "55604662-cf2a-4331-851a-ec234028f8ca"
S_TOOL = "d6e0bada-1959-4eec-a9d2-0bfade768d8f"
S_PROGRESS = "491e126e-1e71-469c-ade2-fcc8af567c74"
S_SUBAGENT = "8463c716-a2ea-4c14-9efa-87158ebd9f20"
S_INLINE = "5c0375b4-57a5-4f26-b12d-d022ee4e51b7"
S_ARRAY = "1d83341e-ae14-4f52-b7e2-67651c9eb29a"
S_BASIC = "1d1e46f9-35c7-4834-b529-846d5bb82288"

# Claude Code session id -> (tokens: in/out/5m/1h/read, cost USD, responses)
EXPECTED: dict[str, tuple[TokenUsage, float, int]] = {
    # short: lines 5-8, 10 are one response (msg_01MKH1 + req_011CY15Q): in 3, out 13, 1h 13835, read 11515.
    # 3*5 + 13*25 + 13835*10 + 11515*0.5 = 15 + 325 + 138350 + 5757.5 = 144447.5 / 1e6
    S_SHORT: (TokenUsage(3, 13, 0, 13835, 11515), 0.1444475, 1),
    # tool-heavy: 4 responses in 9 assistant lines; msg_019BN3 keeps its final output 173 (not 25).
    # in 3+1+3+47 = 54, out 27+1+11+173 = 212, 1h 7883+208+8490+1115 = 17696,
    # read 17915+25798+18014+26504 = 88231; 54*5 + 212*25 + 17696*10 + 88231*0.5 = 226645.5 / 1e6
    S_TOOL: (TokenUsage(54, 212, 0, 17696, 88231), 0.2266455, 4),
    # agent-progress: opus-4-6 main loop, 6 responses: in 1568, out 1112, 1h 18313, read 179771
    #   = 7840 + 27800 + 183130 + 89885.5 = 308655.5 / 1e6;
    # haiku-4-5 subagent afb92ff, 5 responses only inside agent_progress lines: in 24, out 7,
    #   1h 14285, read 95343 = 24 + 35 + 28570 + 9534.3 = 38163.3 / 1e6. Total $0.3468188.
    S_PROGRESS: (TokenUsage(1592, 1119, 0, 32598, 275114), 0.3468188, 11),
    # subagents/agent-a7be2f0.jsonl (rolls up to its parent session), 13 haiku-4-5 responses:
    # in 94, out 33, 1h 13554, read 299487 = 94 + 165 + 27108 + 29948.7 = 57315.7 / 1e6
    S_SUBAGENT: (TokenUsage(94, 33, 0, 13554, 299487), 0.0573157, 13),
    # inline sidechain (1.0.108, sonnet-4, 5m cache only), 10 main + 10 sidechain responses:
    # main 64/2003/26074 5m/190261 = 192 + 30045 + 97777.5 + 57078.3 = 185092.8 / 1e6,
    # side 65/1626/21673 5m/133998 = 146058.15 / 1e6; total $0.33115095
    S_INLINE: (TokenUsage(129, 3629, 47747, 0, 324259), 0.33115095, 20),
    # stream-json array (opus-4, no modelUsage): result cost_usd 1.8977178 is the session's cost.
    # One row: main loop from the result's usage (in 658, out 444, 5m 5285, read 31989) plus the
    # 16 subagent responses (in 112, out 752 -- placeholders --, 5m 50869, read 200723).
    S_ARRAY: (TokenUsage(770, 1196, 56154, 0, 232712), 1.8977178, 1),
    # stream-json NDJSON (opus-4-5): result total_cost_usd 0.1354875, usage in 10, out 25, 5m 21570
    # (the assistant line's output 5 is a placeholder). Check: 10*5 + 25*25 + 21570*6.25 = 135487.5 / 1e6.
    S_BASIC: (TokenUsage(10, 25, 21570, 0, 0), 0.1354875, 1),
}
TRANSCRIPT_SESSIONS = (S_SHORT, S_TOOL, S_PROGRESS, S_SUBAGENT, S_INLINE)
# Stream-json results have no timestamps: they count at the file's mtime, pinned here.
STREAM_MTIME = datetime(2026, 1, 15, 12, 0)


@dataclass
class Tree:
    home: Path  # $HOME: .claude/projects/... holds the transcripts
    projects: Path  # ~/.claude/projects
    out: Path  # claude -p output and hook logs, outside the projects folder

    def session_file(self, session: str) -> Path:
        return next(self.projects.rglob(f"{session}.jsonl"))


def build_tree(base: Path) -> Tree:
    """The samples where Claude Code puts them: ~/.claude/projects/<encoded cwd>/<session>.jsonl,
    the subagent file under <session>/subagents/, and stream-json + hook logs elsewhere."""
    home = base / "home"
    projects = home / ".claude" / "projects"
    spotter = projects / "-home-marco-projects-spotter"
    spotter.mkdir(parents=True)
    for name, session in ((SHORT, S_SHORT), (TOOL_HEAVY, S_TOOL), (AGENT_PROGRESS, S_PROGRESS)):
        shutil.copy(SAMPLES / name, spotter / f"{session}.jsonl")
    subagents = projects / "-home-USER-projects-spotter-worktrees-spotter-fum" / S_SUBAGENT / "subagents"
    subagents.mkdir(parents=True)
    shutil.copy(SAMPLES / SUBAGENT, subagents / "agent-a7be2f0.jsonl")
    demo = projects / "-path-to-Demo"
    demo.mkdir()
    shutil.copy(SAMPLES / INLINE, demo / f"{S_INLINE}.jsonl")
    out = base / "out"
    out.mkdir()
    stamp = STREAM_MTIME.timestamp()
    for name in (STREAM_ARRAY, STREAM_BASIC, *HOOK_LOGS):
        shutil.copy(SAMPLES / name, out / name)
        os.utime(out / name, (stamp, stamp))
    return Tree(home, projects, out)


def session_totals(service: DatabaseService, claude_id: str) -> tuple[TokenUsage, float]:
    row = service.connection.execute(
        "SELECT tokens_input, tokens_output, tokens_cache_write_5m, tokens_cache_write_1h, "
        "tokens_cache_read, cost_usd FROM claude_sessions WHERE claude_session_id = ?",
        (claude_id,),
    ).fetchone()
    assert row is not None, f"no session {claude_id}"
    return TokenUsage(*row[:5]), float(row[5])


def metric_count(service: DatabaseService) -> int:
    return int(service.connection.execute("SELECT count(*) FROM metrics").fetchone()[0])


def assert_totals_are_metric_sums(service: DatabaseService) -> None:
    """Every session's token and cost columns equal the sums of its metrics."""
    bad = service.connection.execute(
        """
        SELECT s.claude_session_id FROM claude_sessions s
        LEFT JOIN (SELECT session_id, sum(input_tokens) i, sum(output_tokens) o,
                          sum(cache_write_5m_tokens) w5, sum(cache_write_1h_tokens) w1,
                          sum(cache_read_tokens) r, sum(cost_usd) c
                   FROM metrics GROUP BY session_id) m ON m.session_id = s.id
        WHERE s.tokens_input != coalesce(m.i, 0) OR s.tokens_output != coalesce(m.o, 0)
           OR s.tokens_cache_write_5m != coalesce(m.w5, 0) OR s.tokens_cache_write_1h != coalesce(m.w1, 0)
           OR s.tokens_cache_read != coalesce(m.r, 0) OR abs(s.cost_usd - coalesce(m.c, 0)) > 1e-9
        """
    ).fetchall()
    assert [r[0] for r in bad] == []


def audit_count(service: DatabaseService, action: str = "ingest") -> int:
    return sum(1 for e in service.get_audit(entity_type="usage") if e.action == action)

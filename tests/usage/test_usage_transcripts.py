"""Transcript parsing against the real samples, with totals derived by hand.

Notation in the derivations: "in/out/5m/1h/read" are input, output, 5-minute
cache write, 1-hour cache write and cache read tokens; rates are USD per
million tokens from prices.json (Opus 4.6: 5/25/6.25/10/0.5, Haiku 4.5:
1/5/1.25/2/0.1, Sonnet 4: 3/15/3.75/6/0.3). Line numbers are 1-based.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fixture_paths import SAMPLES
from nerv.usage.pricing import PriceTable
from nerv.usage.records import LineKind, TokenUsage, UsageRecord, dedupe
from nerv.usage.transcripts import iter_transcript, parse_line, scan_transcript

SHORT = SAMPLES / "cc-transcript-v2.1.38-opus46-short.jsonl"
TOOL_HEAVY = SAMPLES / "cc-transcript-v2.1.38-opus46-tool-heavy.jsonl"
AGENT_PROGRESS = SAMPLES / "cc-transcript-v2.1.38-task-agent-progress.head56.jsonl"
SUBAGENT = SAMPLES / "cc-subagent-v2.1.39-haiku45-agent-a7be2f0.jsonl"
INLINE = SAMPLES / "cc-transcript-v1.0.108-sonnet4-inline-sidechain.jsonl"

PRICES = PriceTable.load()


def _sum(records: list[UsageRecord]) -> TokenUsage:
    return sum((r.usage for r in records), TokenUsage())


def _cost(records: list[UsageRecord]) -> float:
    total = 0.0
    for r in records:
        cost = PRICES.cost_of(r.model, r.usage)
        assert cost is not None, f"unpriced model {r.model}"
        total += cost
    return total


def test_samples_are_present() -> None:
    assert SAMPLES.is_dir(), f"sample data missing: expected {SAMPLES}"


def test_short_opus46() -> None:
    # 15 lines; only lines 5, 6, 7, 8, 10 are assistant lines, all msg_01MKH1ccEGrZGNPvu8pYiiQa
    # + req_011CY15QS2LGwAeBxdfa6e1V with identical usage: one response.
    # in 3, out 13, 1h 13835 (cache_creation.ephemeral_1h), read 11515.
    # cost = 3*5 + 13*25 + 13835*10 + 11515*0.5 = 15 + 325 + 138350 + 5757.5 = 144447.5 /1e6
    scan = scan_transcript(SHORT)
    assert scan.counts == {
        LineKind.USAGE: 5,
        LineKind.IGNORED: 10,
        LineKind.MALFORMED: 0,
        LineKind.SYNTHETIC: 0,
    }
    assert scan.end_offset == SHORT.stat().st_size == 10491
    [rec] = scan.records
    assert rec.external_id == "msg_01MKH1ccEGrZGNPvu8pYiiQa:req_011CY15QS2LGwAeBxdfa6e1V"
    assert rec.session_id == "55604662-cf2a-4331-851a-ec234028f8ca"
    assert rec.model == "claude-opus-4-6"
    assert rec.usage == TokenUsage(
        input=3, output=13, cache_write_5m=0, cache_write_1h=13835, cache_read=11515
    )
    assert rec.cwd == "/home/marco/projects/spotter"
    assert rec.is_sidechain is False and rec.agent_id is None
    assert rec.timestamp_ms is not None
    assert _cost(scan.records) == pytest.approx(0.1444475, abs=1e-12)


def test_tool_heavy_keeps_final_output_count() -> None:
    # 4 responses in 9 assistant lines (session d6e0bada-1959-4eec-a9d2-0bfade768d8f):
    #   msg_0167kg... line 5:         in 3,  out 27,  1h 7883, read 17915
    #   msg_01NUXW... lines 12-13:    in 1,  out 1,   1h 208,  read 25798
    #   msg_01Lbyj... lines 27-30:    in 3,  out 11,  1h 8490, read 18014
    #   msg_019BN3... lines 34, 37:   in 47, out 25 then 173 -> keep 173, 1h 1115, read 26504
    # in 3+1+3+47 = 54; out 27+1+11+173 = 212; 1h 7883+208+8490+1115 = 17696;
    # read 17915+25798+18014+26504 = 88231.
    # cost = 54*5 + 212*25 + 17696*10 + 88231*0.5 = 270 + 5300 + 176960 + 44115.5 = 226645.5 /1e6
    scan = scan_transcript(TOOL_HEAVY)
    assert scan.counts[LineKind.USAGE] == 9 and scan.malformed == 0 and scan.lines == 39
    assert len(scan.records) == 4
    assert {r.session_id for r in scan.records} == {"d6e0bada-1959-4eec-a9d2-0bfade768d8f"}
    assert _sum(scan.records) == TokenUsage(54, 212, 0, 17696, 88231)
    assert _cost(scan.records) == pytest.approx(0.2266455, abs=1e-12)
    last = [r for r in scan.records if r.external_id.startswith("msg_019BN3")]
    assert [r.usage.output for r in last] == [173]


def test_agent_progress_embeds_subagent_usage() -> None:
    # Session 491e126e-1e71-469c-ade2-fcc8af567c74, two models.
    # Main loop, claude-opus-4-6 (type assistant lines 6-36), 6 responses:
    #   msg_01LvWn lines 6-12:      in 2,    out 10,  1h 10245, read 17915
    #   msg_01FqB3 lines 17-19, 22: in 1562, out 8,   1h 1427,  read 28160
    #   msg_016TsT line 24:         in 1,    out 25,  1h 3954,  read 29587
    #   msg_011qrH lines 27-29:     in 1,    out 8,   1h 1362,  read 33541
    #   msg_0179Fg lines 31-33:     in 1,    out 8/8/472 -> 472, 1h 762, read 34903
    #   msg_01QVA9 lines 35-36:     in 1,    out 1/589 -> 589,   1h 563, read 35665
    #   in 1568, out 1112, 1h 18313, read 179771
    #   cost = 1568*5 + 1112*25 + 18313*10 + 179771*0.5 = 7840 + 27800 + 183130 + 89885.5 = 308655.5 /1e6
    # Task subagent afb92ff, claude-haiku-4-5-20251001, only inside progress lines
    # (data.type agent_progress, data.message.type assistant, usage at data.message.message.usage):
    #   msg_0199s8 lines 38, 40, 42: in 2, out 3, 1h 2398, read 15584
    #   msg_01ATQQ lines 44, 46:     in 6, out 1, 1h 362,  read 17982
    #   msg_01ALuB lines 48, 50:     in 6, out 1, 1h 2384, read 18344
    #   msg_01LfZh line 52:          in 6, out 1, 1h 1977, read 20728
    #   msg_018iZt line 54:          in 4, out 1, 1h 7164, read 22705
    #   in 24, out 7, 1h 14285, read 95343
    #   cost = 24*1 + 7*5 + 14285*2 + 95343*0.1 = 24 + 35 + 28570 + 9534.3 = 38163.3 /1e6
    scan = scan_transcript(AGENT_PROGRESS)
    assert scan.malformed == 0 and scan.counts[LineKind.USAGE] == 20 + 9
    assert len(scan.records) == 11
    main = [r for r in scan.records if not r.is_sidechain]
    sub = [r for r in scan.records if r.is_sidechain]
    assert {r.model for r in main} == {"claude-opus-4-6"}
    assert {r.model for r in sub} == {"claude-haiku-4-5-20251001"}
    assert {r.agent_id for r in sub} == {"afb92ff"} and {r.agent_id for r in main} == {None}
    assert {r.session_id for r in scan.records} == {"491e126e-1e71-469c-ade2-fcc8af567c74"}
    assert _sum(main) == TokenUsage(1568, 1112, 0, 18313, 179771)
    assert _sum(sub) == TokenUsage(24, 7, 0, 14285, 95343)
    assert _cost(main) == pytest.approx(0.3086555, abs=1e-12)
    assert _cost(sub) == pytest.approx(0.0381633, abs=1e-12)
    first_sub = next(r for r in sub if r.external_id.startswith("msg_0199s8"))
    assert first_sub.external_id == "msg_0199s85GE5eqHtZm2Xpv7BsK:req_011CY18wFKcx4uxzHzUBxUC6"
    # The inner message's own timestamp (2026-02-10T21:58:17.856Z), not the outer line's (.857Z).
    assert first_sub.timestamp_ms == 1770760697856


def test_subagent_file_rolls_up_to_parent_session() -> None:
    # 131 lines, every one isSidechain, agentId a7be2f0, sessionId of the parent.
    # 13 responses in 32 assistant lines (claude-haiku-4-5-20251001, all 1h cache):
    #   msg_014PMc lines 2,3,7,8:     in 3,  out 3, 1h 2363, read 15511
    #   msg_01Vz38 lines 15,16,21:    in 7,  out 4, 1h 3025, read 17874
    #   msg_01EzuA lines 25,26,31:    in 41, out 1, 1h 250,  read 20899
    #   msg_01GNrs lines 38,39,44:    in 7,  out 3, 1h 887,  read 21149
    #   msg_0135Rm lines 55,56,64:    in 7,  out 1, 1h 321,  read 22036
    #   msg_015k19 lines 72,73,78:    in 7,  out 1, 1h 297,  read 22357
    #   msg_01Amfj lines 89,90:       in 7,  out 6, 1h 1051, read 22654
    #   msg_01Voyo lines 94,95:       in 5,  out 4, 1h 271,  read 23705
    #   msg_01CXFg lines 99,100:      in 4,  out 1, 1h 2793, read 23976
    #   msg_01PfJP lines 108,109:     in 3,  out 6, 1h 376,  read 26769
    #   msg_01HgZs lines 117,118:     in 2,  out 1, 1h 157,  read 27145
    #   msg_01CoSy lines 122,123:     in 1,  out 1, 1h 808,  read 27302
    #   msg_01XDtu line 131:          in 0,  out 1, 1h 955,  read 28110
    # in 94, out 33, 1h 13554, read 299487
    # cost = 94*1 + 33*5 + 13554*2 + 299487*0.1 = 94 + 165 + 27108 + 29948.7 = 57315.7 /1e6
    scan = scan_transcript(SUBAGENT)
    assert scan.malformed == 0 and scan.counts[LineKind.USAGE] == 32 and scan.lines == 131
    assert len(scan.records) == 13
    assert {r.session_id for r in scan.records} == {"8463c716-a2ea-4c14-9efa-87158ebd9f20"}
    assert all(r.is_sidechain and r.agent_id == "a7be2f0" for r in scan.records)
    assert _sum(scan.records) == TokenUsage(94, 33, 0, 13554, 299487)
    assert _cost(scan.records) == pytest.approx(0.0573157, abs=1e-12)


def test_inline_sidechain_sonnet4_5m_cache() -> None:
    # Claude Code 1.0.108, claude-sonnet-4-20250514, cache_creation has only 5m writes.
    # Main (isSidechain false), 10 responses:
    #   msg_01QdKE lines 3-4:   in 4, out 3/263 -> 263, 5m 18764, read 0
    #   msg_014fJ8 lines 6-8:   in 7, out 25/25/302 -> 302, 5m 255, read 18764
    #   msg_01XU4B lines 12-14: in 8, out 31/31/625 -> 625, 5m 422, read 19019
    #   msg_01RZsK line 25:     in 8, out 207, 5m 901,  read 19441
    #   msg_01W3cQ line 42:     in 6, out 24,  5m 737,  read 20342
    #   msg_011kU8 lines 44-45: in 6, out 1,   5m 228,  read 21079
    #   msg_01UhHk line 47:     in 7, out 67,  5m 265,  read 21307
    #   msg_01C2x9 line 49:     in 6, out 26,  5m 1317, read 21572
    #   msg_01Rgvi line 51:     in 6, out 184, 5m 2959, read 22889
    #   msg_018Fip line 53:     in 6, out 304, 5m 226,  read 25848
    #   in 64, out 2003, 5m 26074, read 190261
    #   cost = 64*3 + 2003*15 + 26074*3.75 + 190261*0.3 = 192 + 30045 + 97777.5 + 57078.3 = 185092.8 /1e6
    # Inline sidechain (isSidechain true, no agentId), 10 responses:
    #   msg_012hC6 lines 17-18: in 4, out 107, 5m 12802, read 0
    #   msg_01BWHs line 20:     in 7, out 70,  5m 133,   read 12802
    #   msg_01CHVX line 22:     in 7, out 308, 5m 501,   read 12935
    #   msg_01Dgei lines 27-28: in 4, out 179, 5m 1334,  read 11454
    #   msg_01MCZ9 line 30:     in 7, out 86,  5m 592,   read 12788
    #   msg_01AJPh line 32:     in 7, out 102, 5m 335,   read 13380
    #   msg_0154Ya line 34:     in 8, out 92,  5m 4890,  read 13715
    #   msg_01LNNP line 36:     in 7, out 70,  5m 304,   read 18605
    #   msg_01AgY3 line 38:     in 7, out 92,  5m 501,   read 18909
    #   msg_01T439 line 40:     in 7, out 520, 5m 281,   read 19410
    #   in 65, out 1626, 5m 21673, read 133998
    #   cost = 65*3 + 1626*15 + 21673*3.75 + 133998*0.3 = 195 + 24390 + 81273.75 + 40199.4 = 146058.15 /1e6
    scan = scan_transcript(INLINE)
    assert scan.malformed == 0 and scan.counts[LineKind.USAGE] == 28 and scan.lines == 53
    main = [r for r in scan.records if not r.is_sidechain]
    side = [r for r in scan.records if r.is_sidechain]
    assert (len(main), len(side)) == (10, 10)
    assert {r.agent_id for r in scan.records} == {None}
    assert {r.session_id for r in scan.records} == {"5c0375b4-57a5-4f26-b12d-d022ee4e51b7"}
    assert _sum(main) == TokenUsage(64, 2003, 26074, 0, 190261)
    assert _sum(side) == TokenUsage(65, 1626, 21673, 0, 133998)
    assert _cost(main) == pytest.approx(0.1850928, abs=1e-12)
    assert _cost(side) == pytest.approx(0.14605815, abs=1e-12)


def test_resume_after_half_written_line(tmp_path: Path) -> None:
    # Cut TOOL_HEAVY inside line 37 (the final copy of msg_019BN3, output 173).
    data = TOOL_HEAVY.read_bytes()
    lines = data.splitlines(keepends=True)
    line37_start = sum(len(line) for line in lines[:36])
    cut = line37_start + len(lines[36]) // 2
    live = tmp_path / "live.jsonl"
    live.write_bytes(data[:cut])

    first = list(iter_transcript(live))
    assert len(first) == 36  # lines 1-36 complete; the half line is not consumed
    saved = first[-1].end_offset
    assert saved == line37_start

    with live.open("ab") as fh:  # the writer finishes the file
        fh.write(data[cut:])
    second = list(iter_transcript(live, saved))
    assert len(second) == 3  # lines 37-39, each exactly once
    assert second[-1].end_offset == len(data)

    recs = [p.record for p in first + second if p.record is not None]
    assert len(recs) == 9  # every assistant line once, none twice
    a = [r for r in recs if r.external_id.startswith("msg_019BN3")]
    assert [r.usage.output for r in a] == [25, 173]  # line 34 in pass 1, line 37 in pass 2
    # Merging across passes (as the database upsert does) gives the one-pass figures.
    assert _sum(dedupe(recs)) == TokenUsage(54, 212, 0, 17696, 88231)

    # Nothing new: resuming at the end yields nothing; scan reports the same offset.
    assert list(iter_transcript(live, len(data))) == []
    assert scan_transcript(live, len(data)).end_offset == len(data)


def test_missing_final_newline_is_not_consumed(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_bytes(SHORT.read_bytes().rstrip(b"\n"))
    scan = scan_transcript(f)
    assert scan.lines == 14
    assert scan.end_offset == SHORT.stat().st_size - len(SHORT.read_bytes().splitlines(keepends=True)[-1])


def test_truncated_file_restarts_from_zero(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    shutil.copy(SHORT, f)
    scan = scan_transcript(f, start_offset=10**9)  # larger than the file: it was replaced
    assert scan.end_offset == 10491 and len(scan.records) == 1
    with pytest.raises(ValueError):
        list(iter_transcript(f, -1))


def _assistant(msg_id: str, output: int, model: str = "claude-opus-4-6", **extra: object) -> str:
    line = {
        "type": "assistant",
        "sessionId": "sess",
        "requestId": "req_1",
        "timestamp": "2026-02-10T21:58:15.454Z",
        "message": {"id": msg_id, "model": model, "usage": {"input_tokens": 1, "output_tokens": output}},
        **extra,
    }
    return json.dumps(line)


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    bad_usage = json.loads(_assistant("msg_bad", 1))
    bad_usage["message"]["usage"]["output_tokens"] = "many"
    no_id = json.loads(_assistant("msg_x", 1))
    del no_id["message"]["id"]
    lines = [
        _assistant("msg_ok", 7),  # usage
        "not json at all",  # malformed
        "42",  # malformed: not an object
        "[1]",  # malformed
        '"massive error"',  # malformed
        '{"type":"assistant","message":{"id":"msg_t',  # malformed: truncated mid-object
        json.dumps(bad_usage),  # malformed: non-integer count
        json.dumps(no_id),  # malformed: no message id to dedup on
        '{"type":"assistant","message":"oops"}',  # malformed
        "",  # blank: ignored
        _assistant("msg_syn", 0, model="<synthetic>"),  # synthetic: free, dropped
        '{"type":"user","message":{"role":"user","content":"hi"}}',  # ignored
        '{"type":"progress","data":{"type":"hook_progress"}}',  # ignored
        '{"type":"summary","summary":"x"}',  # ignored
        _assistant("msg_ok", 9),  # usage: a later copy of msg_ok
    ]
    f = tmp_path / "t.jsonl"
    f.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe{bad utf8}\n")
    scan = scan_transcript(f)
    assert scan.counts == {
        LineKind.USAGE: 2,
        LineKind.MALFORMED: 9,
        LineKind.IGNORED: 4,
        LineKind.SYNTHETIC: 1,
    }
    [rec] = scan.records
    assert rec.external_id == "msg_ok:req_1" and rec.usage.output == 9
    assert rec.source_path == str(f)


def test_session_fallback_from_path_for_lines_without_session() -> None:
    line = _assistant("m", 1)
    obj = json.loads(line)
    del obj["sessionId"]
    kind, rec = parse_line(json.dumps(obj), source_path="x", fallback_session="from-path")
    assert kind is LineKind.USAGE and rec is not None and rec.session_id == "from-path"
    kind, rec = parse_line(json.dumps(obj), source_path="x")
    assert kind is LineKind.MALFORMED and rec is None


def test_subagents_layout_session_from_parent_folder(tmp_path: Path) -> None:
    folder = tmp_path / "proj" / "parent-session" / "subagents"
    folder.mkdir(parents=True)
    obj = json.loads(_assistant("m", 1, isSidechain=True, agentId="abc"))
    del obj["sessionId"]
    f = folder / "agent-abc.jsonl"
    f.write_text(json.dumps(obj) + "\n")
    [parsed] = list(iter_transcript(f))
    assert parsed.record is not None
    assert parsed.record.session_id == "parent-session"
    assert parsed.record.is_sidechain and parsed.record.agent_id == "abc"

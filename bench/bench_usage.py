"""Usage ingest benchmark: throughput, peak memory and re-scan cost over a generated tree of
Claude Code transcripts.

The tree is built from the real sample transcripts (tests/fixtures/claude-code-samples):
each session file is a run of sample transcripts with every message and request id
made unique and the session id rewritten, laid out as ``projects/<project>/<session>.jsonl``
with some ``<session>/subagents/agent-*.jsonl`` files. Two tree sizes are measured so
that memory can be seen to stay flat as the input grows.

For each size, a fresh subprocess (so its peak RSS is the ingest's own) opens an
empty database and:

* ingests the whole tree: throughput in MB/s and peak RSS (the page cache is warm:
  the files were just written);
* re-scans the unchanged tree three times, against a plain ``os.walk`` + ``os.stat``
  listing of the same tree (ratio = re-scan / listing);
* appends a few responses to 1% of the files and ingests again (incremental read);
* appends one response to one session and times ``ingest_transcript`` (the hook's path).

It checks that the responses stored are exactly those generated.

    python bench/bench_usage.py               # 256 MB and 1 GB trees
    python bench/bench_usage.py --quick       # 32 MB and 128 MB trees, well under a minute
    python bench/bench_usage.py --write-docs  # also update the "Usage ingest" section of docs/performance.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perfdoc import replace_section  # bench/perfdoc.py (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "claude-code-samples"
DOC = ROOT / "docs" / "performance.md"
SECTION = "## Usage ingest"
MB = 1 << 20

# Transcript templates: file name, its session id, unique API responses in it.
MAIN_TEMPLATES = (
    ("cc-transcript-v2.1.38-opus46-short.jsonl", "55604662-cf2a-4331-851a-ec234028f8ca", 1),
    ("cc-transcript-v2.1.38-opus46-tool-heavy.jsonl", "d6e0bada-1959-4eec-a9d2-0bfade768d8f", 4),
    ("cc-transcript-v2.1.38-task-agent-progress.head56.jsonl", "491e126e-1e71-469c-ade2-fcc8af567c74", 11),
    ("cc-transcript-v1.0.108-sonnet4-inline-sidechain.jsonl", "5c0375b4-57a5-4f26-b12d-d022ee4e51b7", 20),
)
SUBAGENT_TEMPLATE = (
    "cc-subagent-v2.1.39-haiku45-agent-a7be2f0.jsonl",
    "8463c716-a2ea-4c14-9efa-87158ebd9f20",
    13,
)
SESSIONS_PER_PROJECT = 25
SUBAGENT_EVERY = 7  # one session in 7 also has a subagents/ file
_IDS = re.compile(rb'"(msg|req)_')

RUNNER = r"""
import json, os, resource, statistics, sys, time
from nerv import DatabaseService

db, tree, probe = sys.argv[1], sys.argv[2], sys.argv[3]
def rss():
    # Peak RSS of this process image in KiB: VmHWM (ru_maxrss would carry over the parent's
    # peak through fork + exec on Linux).
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

out = {"rss_before_kib": 0}
with DatabaseService(db) as svc:
    out["rss_before_kib"] = rss()
    t = time.perf_counter()
    first = svc.ingest([tree])
    out["ingest_s"] = time.perf_counter() - t
    out["rss_peak_kib"] = rss()
    out["first"] = {k: getattr(first, k) for k in ("files_seen", "files_read", "bytes_read", "lines",
                    "responses_added", "responses_updated", "sessions_created", "malformed_lines")}
    out["errors"] = first.errors[:5]
    rescans, listings = [], []
    for _ in range(3):
        t = time.perf_counter()
        again = svc.ingest([tree])
        rescans.append(time.perf_counter() - t)
        assert again.files_read == 0 and not again.changed, again
        t = time.perf_counter()
        n = 0
        for folder, _dirs, names in os.walk(tree):
            for name in names:
                os.stat(os.path.join(folder, name))
                n += 1
        listings.append(time.perf_counter() - t)
    out["rescan_s"] = min(rescans)
    out["listing_s"] = min(listings)
    out["files"] = n
    # Incremental: the parent process appends to 1% of the files between these two calls.
    sys.stdout.write(json.dumps(out) + "\n"); sys.stdout.flush()
    sys.stdin.readline()
    t = time.perf_counter()
    grown = svc.ingest([tree])
    out["append_s"] = time.perf_counter() - t
    out["append"] = {k: getattr(grown, k) for k in ("files_read", "bytes_read", "responses_added")}
    sys.stdout.write(json.dumps(out) + "\n"); sys.stdout.flush()
    sys.stdin.readline()
    t = time.perf_counter()
    r = svc.ingest_transcript(probe)
    out["hook_s"] = time.perf_counter() - t
    out["hook_first_added"] = r.responses_added
    noop = []
    for _ in range(5):
        t = time.perf_counter()
        svc.ingest_transcript(probe)
        noop.append(time.perf_counter() - t)
    out["hook_noop_s"] = statistics.median(noop)
    for by in ("session", "day"):
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            svc.usage_report(by)
            runs.append(time.perf_counter() - t)
        out[f"report_{by}_s"] = min(runs)
    out["rss_end_kib"] = rss()
print(json.dumps(out))
"""


def _templates() -> tuple[list[tuple[bytes, bytes, int]], tuple[bytes, bytes, int]]:
    mains = [((SAMPLES / name).read_bytes(), sid.encode(), n) for name, sid, n in MAIN_TEMPLATES]
    name, sid, n = SUBAGENT_TEMPLATE
    return mains, ((SAMPLES / name).read_bytes(), sid.encode(), n)


def _variant(template: bytes, old_session: bytes, new_session: bytes, tag: bytes) -> bytes:
    """The template with every message / request id made unique by ``tag`` and the session renamed."""
    return _IDS.sub(rb'"\1_' + tag + b"_", template.replace(old_session, new_session))


def generate(root: Path, total_bytes: int, seed: int = 7) -> dict[str, int]:
    """Write a tree of about ``total_bytes``; returns files, bytes and responses written."""
    mains, (sub, sub_sid, sub_n) = _templates()
    rng = random.Random(seed)
    written = files = responses = 0
    session_no = 0
    while written < total_bytes:
        project = root / f"-home-dev-project-{session_no // SESSIONS_PER_PROJECT:03d}"
        project.mkdir(parents=True, exist_ok=True)
        session = f"{session_no:08x}-0000-4000-8000-{rng.getrandbits(48):012x}".encode()
        target = int(rng.choice((0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 4)) * MB)
        if session_no == 0:
            target = total_bytes // 16  # one very long session: memory must not follow file size either
        parts: list[bytes] = []
        size = block = 0
        while size < target:
            template, old, n = mains[block % len(mains)]
            part = _variant(template, old, session, b"%x%xb%x" % (session_no, block, rng.getrandbits(16)))
            parts.append(part)
            size += len(part)
            responses += n
            block += 1
        (project / f"{session.decode()}.jsonl").write_bytes(b"".join(parts))
        written += size
        files += 1
        if session_no % SUBAGENT_EVERY == 0:
            folder = project / session.decode() / "subagents"
            folder.mkdir(parents=True)
            part = _variant(sub, sub_sid, session, b"%xs" % session_no)
            (folder / f"agent-{session_no:07x}.jsonl").write_bytes(part)
            written += len(part)
            files += 1
            responses += sub_n
        session_no += 1
    return {"files": files, "bytes": written, "responses": responses}


def append_to_some(root: Path, fraction: float = 0.01) -> dict[str, int]:
    """Append a fresh copy of the short template (one new response) to ``fraction`` of the sessions."""
    mains, _ = _templates()
    template, old, _n = mains[0]
    sessions = sorted(p for p in root.rglob("*.jsonl") if p.parent.name != "subagents")
    chosen = sessions[:: max(1, int(1 / fraction))]
    added = 0
    for k, path in enumerate(chosen):
        with path.open("ab") as fh:
            data = _variant(template, old, path.stem.encode(), b"app%x" % k)
            fh.write(data)
            added += len(data)
    return {"files": len(chosen), "bytes": added, "responses": len(chosen)}


INGEST_ONLY = r"""
import json, sys, time
from nerv import DatabaseService
with DatabaseService(sys.argv[1]) as svc:
    t = time.perf_counter()
    svc.ingest([sys.argv[2]])
    print(json.dumps(time.perf_counter() - t))
"""


def ingest_again(work: Path, tree: Path, n: int) -> list[float]:
    """``n`` more full ingests of ``tree``, each into a fresh database in a fresh process."""
    times = []
    for k in range(n):
        db = work / f"again-{k}.db"
        out = subprocess.run(
            [sys.executable, "-c", INGEST_ONLY, str(db), str(tree)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "NERV_ACTOR": "bench"},
        ).stdout
        times.append(float(json.loads(out)))
        for leftover in work.glob(f"again-{k}.db*"):
            leftover.unlink()
    return times


def _runner(db: Path, tree: Path, probe: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(db), str(tree), str(probe)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NERV_ACTOR": "bench"},
    )


def measure(work: Path, megabytes: int, repeat: int) -> dict[str, Any]:
    tree = work / f"tree-{megabytes}mb"
    t = time.perf_counter()
    made = generate(tree, megabytes * MB)
    gen_s = time.perf_counter() - t
    extra = ingest_again(work, tree, repeat - 1)
    probe = next(p for p in sorted(tree.rglob("*.jsonl")) if p.parent.name != "subagents")
    proc = _runner(work / f"state-{megabytes}.db", tree, probe)
    assert proc.stdin is not None and proc.stdout is not None
    json.loads(proc.stdout.readline())  # first ingest and re-scans done
    grown = append_to_some(tree)
    proc.stdin.write("\n")
    proc.stdin.flush()
    json.loads(proc.stdout.readline())  # incremental ingest done
    mains, _ = _templates()
    with probe.open("ab") as fh:  # one more response in one session, for the hook path
        fh.write(_variant(mains[0][0], mains[0][1], probe.stem.encode(), b"hook"))
    proc.stdin.write("\n")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=3600)
    if proc.returncode:
        raise SystemExit(f"bench runner failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result.update(size_mb=megabytes, generated=made, generate_s=gen_s, appended=grown)
    result["ingest_runs_s"] = [result["ingest_s"], *extra]
    result.update(calibrate(tree))
    first = result["first"]
    if result["errors"] or first["malformed_lines"] or first["responses_added"] != made["responses"]:
        raise SystemExit(f"ingest did not store what was generated: {first} vs {made}, {result['errors']}")
    if result["append"]["responses_added"] != grown["responses"] or result["hook_first_added"] != 1:
        raise SystemExit(f"incremental ingest mismatch: {result['append']} vs {grown}")
    return result


def calibrate(tree: Path, budget: int = 128 * MB) -> dict[str, float]:
    """For scale, on the first ``budget`` bytes of the tree: ``json.loads`` of every line
    (what a naive reader pays) and nerv's reader alone, without the database."""
    from nerv.usage.ingest import read_batches

    files, size = [], 0
    for path in sorted(tree.rglob("*.jsonl")):
        files.append(path)
        size += path.stat().st_size
        if size >= budget:
            break
    t = time.perf_counter()
    for path in files:
        with path.open("rb") as fh:
            for line in fh:
                json.loads(line)
    naive = time.perf_counter() - t
    t = time.perf_counter()
    for path in files:
        with path.open("rb") as fh:
            for _batch in read_batches(fh, 0, source=str(path), fallback_session=path.stem):
                pass
    reader = time.perf_counter() - t
    return {"json_all_mb_s": size / MB / naive, "reader_mb_s": size / MB / reader}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / (1 << 20):.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )


def _rows(results: list[dict[str, Any]]) -> list[str]:
    head = (
        "| tree | files | responses | ingest (each run) | throughput | peak RSS (before ingest) "
        "| re-scan unchanged | os.walk+stat | ratio | +1% appended | hook: +1 response / no-op |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in results:
        gen, first = r["generated"], r["first"]
        cells = [
            f"{first['bytes_read'] / MB:,.0f} MB",
            f"{gen['files']:,}",
            f"{first['responses_added']:,}",
            " / ".join(f"{x:.1f}" for x in sorted(r["ingest_runs_s"])) + " s",
            " / ".join(f"{first['bytes_read'] / MB / x:.0f}" for x in sorted(r["ingest_runs_s"])) + " MB/s",
            f"{r['rss_peak_kib'] / 1024:.0f} MB ({r['rss_before_kib'] / 1024:.0f} MB)",
            f"{r['rescan_s'] * 1000:.1f} ms",
            f"{r['listing_s'] * 1000:.1f} ms",
            f"{r['rescan_s'] / r['listing_s']:.2f}",
            f"{r['append_s'] * 1000:.0f} ms ({r['append']['files_read']} files, "
            f"{r['append']['bytes_read'] / 1024:.0f} KB)",
            f"{r['hook_s'] * 1000:.1f} ms / {r['hook_noop_s'] * 1000:.1f} ms",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report(results: list[dict[str, Any]], quick: bool) -> str:
    command = "python bench/bench_usage.py" + (" --quick" if quick else "")
    return "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} with `{command}` on {machine()}; "
            "temp dir on the local disk, warm page cache (the tree was just written).",
            "",
            *_rows(results),
            "",
            "All-time `usage_report` on the ingested database (best of 3): by session "
            + " / ".join(f"{r['report_session_s'] * 1000:.0f}" for r in results)
            + " ms, by day "
            + " / ".join(f"{r['report_day_s'] * 1000:.0f}" for r in results)
            + " ms.",
            "",
            "For scale, on this machine: `json.loads` of every line runs at "
            + " / ".join(f"{r['json_all_mb_s']:.0f}" for r in results)
            + " MB/s, nerv's line reader alone (no database) at "
            + " / ".join(f"{r['reader_mb_s']:.0f}" for r in results)
            + " MB/s (first 128 MB of each tree).",
        ]
    )


def write_docs(table: str) -> None:
    """Replace (or add) this bench's section of docs/performance.md, leaving the rest alone."""
    replace_section(SECTION, f"{DOC_TEXT}\n\n{table}", DOC)


DOC_TEXT = """\
`nerv usage ingest` over a generated tree of Claude Code transcripts (`bench/bench_usage.py`:
the real sample transcripts repeated with unique message/request ids, laid out as
`projects/<project>/<session>.jsonl` plus `<session>/subagents/agent-*.jsonl`, file sizes from
10 KB to 4 MB and one session of 1/16 of the tree). Each size runs in a fresh process on an
empty database. The full ingest is repeated (fresh database and process each time) because
this machine is shared with other work: every run is shown, fastest first. Peak RSS is the
process's high-water mark (`VmHWM`); in brackets, the same process before the ingest
(interpreter, nerv, the open database). The bench checks that exactly the generated responses
were stored, after the first ingest and after the appends.

The samples are dense in usage: about 100 API responses and 190 assistant lines per MB (long
real sessions carry far more tool output per response), so decoding those lines is most of
the cost; the line under the table gives, for scale, the reader alone (no database) and
`json.loads` of every line on the same files.

How the ingest keeps to these numbers:

- lines that cannot carry usage (tool output, user turns, hook progress: most of the bytes) are
  only scanned for the `"assistant"` marker, never JSON-decoded; only candidate lines go through
  `json.loads`;
- files are read line by line; rows go out with `executemany` upserts in transactions of up to
  4096 responses (several small files to one: committing each file on its own took 1.4x as
  long on a 400 MB tree), each with the read positions it leads to, so memory does not grow
  with the input;
- a re-scan stats each file once (`scandir`, no `resolve()`), compares size, mtime and inode
  with `ingested_files`, opens nothing and takes no write lock when nothing changed;
- a grown file is read from the end of its last complete line; the hook's `ingest_transcript`
  reads only the session's own files."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="32 MB and 128 MB trees instead of 256 MB and 1 GB"
    )
    parser.add_argument(
        "--dir", metavar="DIR", help="where to build the trees (default: a temp dir, removed after)"
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md (Usage ingest)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--repeat", type=int, default=0, help="full ingests per size (default: 1 quick, 3 full)"
    )
    args, _unknown = parser.parse_known_args(argv)
    if not SAMPLES.is_dir():
        print(f"bench_usage: sample transcripts not found at {SAMPLES}", file=sys.stderr)
        return 1
    sizes = (32, 128) if args.quick else (256, 1024)
    args.repeat = args.repeat or (1 if args.quick else 3)
    print(f"# bench_usage ({'quick' if args.quick else 'full'}) — {machine()}", flush=True)
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="nerv-bench-usage-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for size in sizes:
            print(f"tree of {size} MB ...", flush=True)
            results.append(measure(work, size, args.repeat))
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    table = report(results, args.quick)
    print(table, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results}, indent=2) + "\n")
    if args.write_docs:
        write_docs(table)
        print(f"updated {DOC.relative_to(ROOT)} ({SECTION})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

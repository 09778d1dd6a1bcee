"""Run every benchmark: each ``bench/bench_*.py`` module's ``main()``, in name order.

    python bench/run.py                  # full sizes
    python bench/run.py --quick          # small sizes, for a smoke run
    python bench/run.py --only service,matcher   # only bench_service.py and bench_matcher.py

Convention for a bench module: define ``main(argv=None) -> int | None``. It
receives this script's arguments except ``--only`` (so ``--quick`` and any
option of its own), should ignore options it does not know
(``parse_known_args``), prints its own table, and returns non-zero on failure.
A ``main()`` without parameters is called without arguments. One failing
module does not stop the others; the exit status says whether any failed.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent


def discover(only: list[str]) -> list[Path]:
    modules = sorted(BENCH.glob("bench_*.py"))
    if only:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
        unknown = wanted - {p.stem.removeprefix("bench_") for p in modules}
        if unknown:
            raise SystemExit(f"run.py: no bench module named {', '.join(sorted(unknown))}")
        modules = [p for p in modules if p.stem.removeprefix("bench_") in wanted]
    return modules


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def run_one(path: Path, argv: list[str]) -> bool:
    print(f"\n=== {path.name} ===", flush=True)
    start = time.perf_counter()
    try:
        module = load(path)
        entry = getattr(module, "main", None)
        if entry is None:
            print(f"{path.name}: no main(); skipped", flush=True)
            return True
        result = entry(argv) if inspect.signature(entry).parameters else entry()
        ok = result in (None, 0)
    except SystemExit as exc:
        ok = exc.code in (None, 0)
    except Exception:
        traceback.print_exc()
        ok = False
    print(
        f"=== {path.name}: {'ok' if ok else 'FAILED'} in {time.perf_counter() - start:.1f} s ===", flush=True
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    names: list[str] = []
    while "--only" in args:
        at = args.index("--only")
        if at + 1 >= len(args):
            raise SystemExit("run.py: --only needs a comma-separated list of bench module names")
        names += [n for n in args[at + 1].split(",") if n]
        del args[at : at + 2]
    options = args
    sys.path.insert(0, str(BENCH))  # bench modules may share helpers
    failed = [p.name for p in discover(names) if not run_one(p, options)]
    if failed:
        print(f"\nfailed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Verify + report on a generated 1 M-row run: seconds and peak RSS.

Generates the same 1 M-request run directory as ``benchmarks/verify.py`` (a 1000 s
run at 1000 requests/s, three fault windows, one sample a second), then, in a
fresh child process so generation does not count, times ``verify_run`` followed by
``render_run`` (report.md, report.html with five plots, junit.xml) and reads the
child's peak RSS. Goal (issue 9): < 20 s and < 500 MB for both together.

``--full-size``: a 24 h soak at 10x load (10 M rows over 86,400 s, one sample a second,
``requests.csv.gz``); goal < 60 s and < 1 GB for both, and a run directory < 1 GB.

    .venv/bin/python benchmarks/report.py [--rows N | --full-size] [--keep DIR] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import record_section  # noqa: E402

GOAL_S = 20.0
GOAL_MB = 500.0
TITLE = "Report (benchmarks/report.py)"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure(run_dir: Path, out: Path) -> None:
    """In the child: verify, then render; write seconds and peak RSS to ``out``."""
    from harness.report import render_run
    from harness.verify import verify_run

    baseline = _peak_mb()
    started = time.monotonic()
    result = verify_run(run_dir)
    verified = time.monotonic()
    after_verify = _peak_mb()
    paths = render_run(run_dir)
    done = time.monotonic()
    out.write_text(json.dumps({
        "verify_s": verified - started, "report_s": done - verified, "total_s": done - started,
        "baseline_mb": baseline, "peak_after_verify_mb": after_verify, "peak_mb": _peak_mb(),
        "verdict": result.get("verdict"), "files": len(paths),
        "html_mb": (run_dir / "report.html").stat().st_size / 1e6,
    }))


def _run_child(run_dir: Path, out: Path, log_dir: Path) -> dict[str, float]:
    from harness.provision.process import Supervisor

    argv = [sys.executable, str(Path(__file__).resolve()), "--measure", str(run_dir),
            "--out", str(out)]
    with Supervisor(log_dir) as sup:
        child = sup.spawn("report-bench", argv)
        code = child.wait(300.0)
        if code is None:
            code = sup.stop(child)
        if code != 0 or not out.is_file():
            raise SystemExit(f"benchmark child failed (exit {code}):\n{child.log_tail(40)}")
    return dict(json.loads(out.read_text()))


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--full-size", action="store_true",
                    help="10 M rows in requests.csv.gz (a 24 h soak at 10x; goal < 60 s, < 1 GB)")
    ap.add_argument("--keep", type=Path, help="generate into this directory and keep it")
    ap.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(args.measure, args.out)
        return 0
    from benchmarks.verify import (
        DURATION_S,
        FULL_DIR_MB,
        FULL_DURATION_S,
        FULL_ROWS,
        dir_mb,
        generate,
    )

    goal_s, goal_mb = (60.0, 1000.0) if args.full_size else (GOAL_S, GOAL_MB)
    if args.full_size:
        args.rows = FULL_ROWS
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "run"
        root.mkdir(parents=True, exist_ok=True)
        duration = FULL_DURATION_S if args.full_size else DURATION_S
        log = generate(root, args.rows, gz=args.full_size, duration_s=duration)
        size_mb = log.stat().st_size / 1e6
        fig = _run_child(root, Path(tmp) / "figures.json", Path(tmp) / "logs")
        run_dir_mb = dir_mb(root)
    ok = fig["total_s"] < goal_s and fig["peak_mb"] < goal_mb and (
        not args.full_size or run_dir_mb < FULL_DIR_MB)
    lines = [
        f"- verify_run + render_run on {args.rows:,} requests ({size_mb:.0f} MB {log.name}; "
        f"run directory after the report {run_dir_mb:.0f} MB"
        f"{f', goal < {FULL_DIR_MB:.0f} MB' if args.full_size else ''}; "
        f"3 faults, {int(duration) + 12} samples, {duration / 3600:.3g} h), in a fresh process: "
        f"**{fig['total_s']:.2f} s** (verify {fig['verify_s']:.2f} s, report "
        f"{fig['report_s']:.2f} s), peak RSS **{fig['peak_mb']:.0f} MB** (after imports "
        f"{fig['baseline_mb']:.0f} MB, after verify {fig['peak_after_verify_mb']:.0f} MB); "
        f"goal < {goal_s:.0f} s and < {goal_mb:.0f} MB: {'met' if ok else 'NOT met'}",
        f"- {fig['files']:.0f} files written (5 plots), report.html {fig['html_mb']:.2f} MB "
        "self-contained; requests.csv and samples.jsonl streamed into per-second buckets",
        "- the machine is shared with other engineers' test runs; figures are one run",
    ]
    print("\n".join(lines))
    if not args.no_record:
        record_section(f"{TITLE[:-1]} --full-size)" if args.full_size else TITLE, lines)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

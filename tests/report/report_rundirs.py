"""Hand-made run directories with known content, for the report tests.

A 60-second run (5 s warm-up) at ``rps`` requests per second with two faults: a
Postgres restart at 20 s (removed 21.2 s; requests fail from 20 to 22 s) and
network latency from 35 to 45 s. Every file follows docs/run-directory.md.
Secrets are planted on purpose (a DSN password and an admin token in run.json,
result.json evidence, the timeline and a sample) so tests can check they never
reach a report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DSN_PASSWORD = "pw-Hunter2-xyz"
ADMIN_TOKEN = "tok-4dm1n-0123456789abcdef"
SECRET_DSN = f"postgresql://app:{DSN_PASSWORD}@127.0.0.1:5432/app"
LOST_KEYS = ["k-7-000123", "k-7-000456"]
DUPLICATED_KEYS = ["k-7-000321"]
LEAK_SITE = "reference_impl/app/leak.py:42"


def _slo(name: str, phase: str, op: str, threshold: float, text: str, value: float | None,
         verdict: str) -> dict[str, Any]:
    return {"name": name, "phase": phase, "op": op, "threshold": threshold,
            "threshold_text": text, "value": value, "verdict": verdict,
            "evidence": {"dsn": SECRET_DSN, "note": f"Authorization: Bearer {ADMIN_TOKEN}"}}


def result_doc(scenario: str, verdict: str = "fail", *, expect: str = "pass",
               expect_fail: list[str] | None = None, availability: float = 0.95,
               lost: int = 2, recovery_s: float = 1.4) -> dict[str, Any]:
    """A result.json with 5 SLOs: 3 pass, 1 fail (availability unless ``verdict``), 1 unknown."""
    avail_ok = availability >= 0.999
    slos = [
        _slo("availability", "steady", ">=", 0.999, ">= 99.9%", availability,
             "pass" if avail_ok else "fail"),
        _slo("p99_latency_ms", "steady", "<", 100.0, "< 100", 12.5, "pass"),
        _slo("recovery_seconds", "recovery", "<", 5.0, "< 5", recovery_s,
             "pass" if recovery_s < 5 else "fail"),
        _slo("lost_writes", "run", "==", 0.0, "== 0", float(lost), "pass" if lost == 0 else "fail"),
        _slo("memory_growth_mb_per_hour", "run", "<", 50.0, "< 50", None, "unknown"),
    ]
    run_metrics = {"availability": availability, "p99_latency_ms": 12.5, "requests": 1200,
                   "recovery_seconds": recovery_s, "lost_writes": lost, "duplicated_writes": 1,
                   "peak_rss_mb": 80.0, "error_rate": 1 - availability, "uptime": 0.9995,
                   "unhandled_errors": 0, "stderr_unhandled_errors": 0, "crashes": 0,
                   "schema_errors": 0, "startup_seconds": 1.1,
                   "memory_growth_mb_per_hour": 30.0, "memory_warnings_per_hour": 0.0}
    steady = {"availability": availability, "p99_latency_ms": 12.5, "error_rate": 1 - availability,
              "connection_errors_per_minute": 0.0}
    return {
        "scenario": scenario, "run_id": f"20261123T201500Z-{scenario}", "expect": expect,
        "expect_fail": expect_fail or [], "verdict": verdict,
        "as_expected": (verdict == expect),
        "phases": [{"name": "steady", "kind": "steady", "start_s": 5.0, "end_s": 20.0,
                    "fault": None}],
        "metrics": {"run": run_metrics, "steady": steady, "fault": {}, "recovery": {}},
        "slos": slos,
        "faults": [
            {"fault": 0, "action": "postgres.restart", "applied_s": 20.0, "removed_s": 21.2,
             "recovery_s": recovery_s, "detect_s": 0.3},
            {"fault": 1, "action": "network.latency", "applied_s": 35.0, "removed_s": 45.0,
             "recovery_s": 0.2, "detect_s": None},
        ],
        "writes": {"attempted": 400, "acknowledged": 380, "failed": 5, "read": 379, "lost": lost,
                   "unexpected": 0, "duplicated": len(DUPLICATED_KEYS), "phantom": 0,
                   "recovered": 1, "verdict": "fail" if lost else "pass",
                   "examples": {"lost": LOST_KEYS[:lost], "duplicated": DUPLICATED_KEYS}},
        "memory": {"slope_mb_per_hour": 30.0, "ci95": [12.0, 48.0], "leak": False,
                   "peak_rss_bytes": 80 * 1024 * 1024,
                   "top_sites": [{"site": LEAK_SITE, "size_bytes": 2_000_000,
                                  "size_diff_bytes": 500_000, "count": 1000, "count_diff": 250,
                                  "traceback": [LEAK_SITE, "reference_impl/app/main.py:10"]}]},
        "versions": {}, "host": {},
    }


def _timeline() -> list[dict[str, Any]]:
    wall = "2026-11-23T20:15:00Z"
    return [
        {"event": "run_start", "t_s": 0.0, "wall": wall},
        {"event": "load_start", "t_s": 5.0, "wall": wall},
        {"event": "apply", "fault": 0, "action": "postgres.restart", "params": {"mode": "fast"},
         "t_s": 20.0, "planned_t_s": 20.0, "wall": wall, "ok": True, "error": None,
         "duration_s": 1.2, "detail": {"dsn": SECRET_DSN}},
        {"event": "remove", "fault": 0, "action": "postgres.restart", "params": {"mode": "fast"},
         "t_s": 21.2, "planned_t_s": None, "wall": wall, "ok": True, "error": None,
         "duration_s": 0.0},
        {"event": "postgres_ready", "t_s": 21.5, "wall": wall},
        {"event": "apply", "fault": 1, "action": "network.latency",
         "params": {"latency": 300, "proxy": "postgres"}, "t_s": 35.0, "planned_t_s": 35.0,
         "wall": wall, "ok": True, "error": None, "duration_s": 0.01},
        {"event": "remove", "fault": 1, "action": "network.latency", "params": {},
         "t_s": 45.0, "planned_t_s": 45.0, "wall": wall, "ok": True, "error": None,
         "duration_s": 0.01},
        {"event": "load_stop", "t_s": 60.0, "wall": wall},
        {"event": "run_end", "t_s": 62.0, "wall": wall, "status": "complete"},
    ]


def _requests_csv(path: Path, rps: int) -> None:
    lines = ["t_s,name,status,ok,latency_ms,error,write_key,ack,attempt"]
    n = 0
    for sec in range(5, 60):
        for i in range(rps):
            t = sec + i / rps
            failing = 20.0 <= t < 22.0
            slow = 35.0 <= t < 45.0
            latency = 300.0 + i if slow else 4.0 + (i % 10)
            if i % 2 == 0:
                n += 1
                key = f"k-7-{n:06d}"
                status, ok, err, ack = (503, 0, "http_503", 0) if failing else (201, 1, "", 1)
                lines.append(f"{t:.6f},post_message,{status},{ok},{latency:.3f},{err},{key},{ack},1")
            else:
                status, ok, err = (0, 0, "connection") if failing else (200, 1, "")
                lines.append(f"{t:.6f},read_history,{status},{ok},{latency:.3f},{err},,,1")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _sample(t: float) -> dict[str, Any]:
    breaker = "open" if 20 <= t < 23 else "half_open" if 23 <= t < 24 else "closed"
    return {
        "t_s": t, "wall": "2026-11-23T20:15:00Z", "missing": [], "ready": breaker == "closed",
        "live": True, "breaker": breaker,
        "pool": {"size": 10, "in_use": 8 if 35 <= t < 45 else 2, "idle": 2,
                 "waiting": 3 if 35 <= t < 45 else 0, "max": 10},
        "tasks": {"queued": 0, "running": 1, "max_queue": 1000, "rejected": 0},
        "app_errors_unhandled": 0, "stderr_unhandled": 0, "memory_warnings": 0,
        "tracemalloc_bytes": int((20 + t * 0.05) * 1024 * 1024),
        "app_proc": {"pid": 1, "rss_bytes": int((60 + t * 30 / 3600 + 0.2 * (t % 3)) * 1024 * 1024),
                     "cpu_percent": 5.0, "num_fds": 20, "num_threads": 4},
        "pg_proc": {"pid": 2, "rss_bytes": 1, "cpu_percent": 1.0, "num_fds": 1,
                    "num_threads": 1, "processes": 8},
        "pg_connections": {"total": 12, "by_state": {"active": 2, "idle": 9,
                                                     "idle in transaction": 1}, "app": 10},
        "app_stats": {"admin_token": ADMIN_TOKEN},
    }


SCENARIO_TOML = """name = "{name}"
seed = 7
duration = "60s"

[slo.steady]
availability = ">= 99.9%"
p99_latency_ms = "< 100"

[slo.recovery]
recovery_seconds = "< 5"

[slo.run]
lost_writes = "== 0"
duplicated_writes = "== 0"
memory_growth_mb_per_hour = "< 50"
"""


def _final_rows(requests_csv: Path) -> dict[str, int]:
    """Every acknowledged key once, minus LOST_KEYS, with DUPLICATED_KEYS twice."""
    rows: dict[str, int] = {}
    for line in requests_csv.read_text().splitlines()[1:]:
        cols = line.split(",")
        if cols[6] and cols[7] == "1" and cols[6] not in LOST_KEYS:
            rows[cols[6]] = 2 if cols[6] in DUPLICATED_KEYS else 1
    return rows


def make_run_dir(root: Path, scenario: str = "db-restart", *, rps: int = 20,
                 profile: str = "resilient", result: dict[str, Any] | None = None,
                 with_result: bool = True) -> Path:
    """Write a complete hand-made run directory under ``root`` and return it."""
    run_dir = root / f"20261123T201500Z-{scenario}-{profile}"
    (run_dir / "memory").mkdir(parents=True)
    run = {"scenario": scenario, "run_id": run_dir.name, "status": "complete", "error": None,
           "started_wall": "2026-11-23T20:15:00Z", "ended_wall": "2026-11-23T20:16:02Z",
           "t0_monotonic": 1000.0, "duration_s": 60.0, "warmup_s": 5.0, "seed": 7,
           "profile": profile,
           "command": f"chaosharness run scenarios/{scenario}.toml --dsn {SECRET_DSN} "
                      f"--admin-token {ADMIN_TOKEN}",
           "replay_of": None, "versions": {}, "host": {"cpus": 2},
           "app": {"url": "http://127.0.0.1:8000", "pid": 1, "restarts": 0, "exits": [],
                   "admin_token": ADMIN_TOKEN},
           "postgres": {"provider": "embedded", "version": "15", "dsn": SECRET_DSN},
           "proxy": {"kind": "embedded", "url": "http://127.0.0.1:8474"}}
    (run_dir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    (run_dir / "scenario.toml").write_text(SCENARIO_TOML.format(name=scenario), encoding="utf-8")
    (run_dir / "timeline.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in _timeline()), encoding="utf-8")
    _requests_csv(run_dir / "requests.csv", rps)
    (run_dir / "samples.jsonl").write_text(
        "".join(json.dumps(_sample(float(t))) + "\n" for t in range(0, 62)), encoding="utf-8")
    diff = {"t_s": 30.0, "total_bytes": 1234567, "total_diff_bytes": 4567,
            "top": [{"site": LEAK_SITE, "size_bytes": 123, "size_diff_bytes": 45, "count": 10,
                     "count_diff": 3, "traceback": [LEAK_SITE]}]}
    (run_dir / "memory" / "diff-0001.json").write_text(json.dumps(diff), encoding="utf-8")
    (run_dir / "final_read.json").write_text(json.dumps(
        {"ok": True, "error": None, "t_s": 61.0, "reads": 2, "agreed": True,
         "sql": "select idempotency_key, count(*) from messages group by 1",
         "rows": _final_rows(run_dir / "requests.csv")}), encoding="utf-8")
    if with_result:
        doc = result if result is not None else result_doc(scenario)
        (run_dir / "result.json").write_text(json.dumps(doc), encoding="utf-8")
    return run_dir

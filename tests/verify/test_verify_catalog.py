"""The metric catalogue: the agreed names exist, with valid phases, and did-you-mean helps."""

from __future__ import annotations

from harness.verify.catalog import (
    ALL_PHASES,
    METRICS,
    did_you_mean,
    slo_id,
    split_slo_id,
)

AGREED = """availability error_rate requests throughput_rps p50_latency_ms p95_latency_ms
p99_latency_ms p999_latency_ms max_latency_ms recovery_seconds detect_seconds lost_writes
duplicated_writes unexpected_writes phantom_writes recovered_writes memory_growth_mb_per_hour
peak_rss_mb memory_leak_sites memory_warnings_per_hour unhandled_errors stderr_unhandled_errors
connection_leaks pool_saturation task_queue_overflow shutdown_5xx shutdown_exit_code
startup_seconds uptime schema_errors connection_errors_per_minute crashes""".split()


def test_every_agreed_name_is_catalogued_with_valid_phases() -> None:
    """Renaming or dropping an agreed metric breaks scenarios: every agreed name must exist,
    be keyed by its own name, and allow only known phases (at least one)."""
    for name in AGREED:
        spec = METRICS[name]
        assert spec.name == name
        assert spec.phases and spec.phases <= ALL_PHASES
        assert spec.unit and spec.description


def test_slo_ids_round_trip_and_did_you_mean_suggests() -> None:
    """An SLO id splits back into metric and phase; a near-miss name gets a suggestion,
    nonsense gets none."""
    assert split_slo_id(slo_id("lost_writes", "run")) == ("lost_writes", "run")
    assert split_slo_id("availability") == ("availability", "run")
    assert did_you_mean("p99_latency") == "p99_latency_ms"
    assert did_you_mean("zzzzzz") is None


def test_public_surface_of_harness_verify() -> None:
    """What the conductor and the CLI import exists, and ``__all__`` names only real things."""
    import harness.verify as verify
    from harness.verify.online import OnlineWriteChecker

    assert set(verify.__all__) == {"exit_code_for", "verify_run"}
    for name in verify.__all__:
        assert callable(getattr(verify, name))
    assert callable(OnlineWriteChecker.start) and callable(OnlineWriteChecker.stop)
    assert verify.exit_code_for({"as_expected": True, "run_status": "complete"}) == 0
    assert verify.exit_code_for({"as_expected": False, "run_status": "complete"}) == 1
    assert verify.exit_code_for({"as_expected": True, "run_status": "incomplete"}) == 2

"""The manager's fixed-memory metrics (pure logic, no database)."""

from __future__ import annotations

from reference_impl.db.config import DbConfig
from reference_impl.db.metrics import LatencyHistogram, QueryMetrics, RecentSamples


def test_histogram_buckets_are_cumulative_with_inclusive_bounds() -> None:
    """A value equal to a bound lands in that bound's bucket; counts accumulate upwards."""
    hist = LatencyHistogram((1, 10))
    for ms in (0.5, 1.0, 5.0, 10.0, 99.0):
        hist.observe(ms)
    assert hist.buckets() == {"le_1": 2, "le_10": 4, "le_inf": 5}
    assert hist.count == 5 and hist.sum_ms == 115.5


def test_recent_samples_keep_a_bounded_window_and_nearest_rank() -> None:
    """Only the last ``size`` values count; p50/p99 are nearest-rank; empty gives None."""
    recent = RecentSamples(size=100)
    assert recent.percentile(50) is None
    for value in range(1000):
        recent.add(float(value))
    assert len(recent) == 100
    assert recent.percentile(50) == 949.0
    assert recent.percentile(99) == 998.0
    assert recent.percentile(100) == 999.0


def test_query_metrics_snapshot_counts_errors_by_class_and_sqlstate() -> None:
    """Errors are counted per class and per SQLSTATE (none for driver-level errors)."""
    metrics = QueryMetrics()
    metrics.observe_query(2.0)
    metrics.observe_error("timeout", "57014")
    metrics.observe_error("network", None)
    snap = metrics.snapshot()
    assert snap["errors_by_class"] == {"timeout": 1, "network": 1}
    assert snap["errors_by_sqlstate"] == {"57014": 1}
    assert snap["latency_ms"]["p50"] == 2.0 and snap["queries"] == 1


def test_config_repr_hides_the_password() -> None:
    """A DbConfig printed into a log shows the DSN with its password replaced."""
    text = repr(DbConfig("postgresql://app:s3cret@db:5432/app"))
    assert "s3cret" not in text and "postgresql://app:***@db:5432/app" in text

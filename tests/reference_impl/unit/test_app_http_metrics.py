"""HTTP metrics: counted in plain dicts, exposed as valid Prometheus families at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from reference_impl.app.metrics import BUCKETS, HttpMetrics


def _samples(metrics: HttpMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counts_and_cumulative_buckets_parse_as_prometheus_text() -> None:
    """A value on a bucket bound counts in that bucket; buckets are cumulative; +Inf, count
    and sum agree; an unknown method is folded into OTHER."""
    metrics = HttpMetrics()
    for seconds in (0.0005, BUCKETS[0], 0.003, 99.0):
        metrics.observe("GET", "/r", 200, seconds)
    metrics.observe("BREW", "/r", 418, 0.01)
    samples = _samples(metrics)

    def bucket(le: str) -> float:
        return samples[("http_request_duration_seconds_bucket",
                        frozenset({("route", "/r"), ("le", le)}))]

    assert samples[("http_requests_total", frozenset(
        {("method", "GET"), ("route", "/r"), ("status", "200")}))] == 4
    assert samples[("http_requests_total", frozenset(
        {("method", "OTHER"), ("route", "/r"), ("status", "418")}))] == 1
    assert bucket("0.001") == 2 and bucket("0.005") == 3 and bucket("0.01") == 4
    assert bucket("5.0") == 4 and bucket("+Inf") == 5
    assert samples[("http_request_duration_seconds_count", frozenset({("route", "/r")}))] == 5
    total = samples[("http_request_duration_seconds_sum", frozenset({("route", "/r")}))]
    assert abs(total - (0.0005 + 0.001 + 0.003 + 99.0 + 0.01)) < 1e-9
    assert metrics.total == 5 and metrics.by_status == {200: 4, 418: 1}

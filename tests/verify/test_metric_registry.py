"""The metric registry (harness/verify/catalog.py) and what verify computes agree: every
catalogued metric names a family whose compute function exists, verify merges exactly the
registry's families, the evidence covers each family, and a run judged end to end carries
every catalogued metric in every phase kind it is declared for (a metric the catalogue
lists and nobody computes would read "unknown" at run time; here it fails)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from test_verify_run import _restart_run

from harness.errors import VerifyError
from harness.verify import verify_run
from harness.verify.catalog import FAMILIES, METRICS
from harness.verify.evidence import EVIDENCE_BY_FAMILY
from harness.verify.judge import _merge


def test_every_metric_names_a_family_whose_compute_function_exists() -> None:
    for name, spec in METRICS.items():
        assert spec.family in FAMILIES, f"{name}: unknown family {spec.family!r}"
    for family in FAMILIES.values():
        module, _, attr = family.compute.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), family.compute
    assert set(EVIDENCE_BY_FAMILY) == set(FAMILIES)


def test_a_family_the_registry_names_but_verify_does_not_compute_is_an_error() -> None:
    computed = {name: {} for name in FAMILIES if name != "memory"}
    with pytest.raises(VerifyError, match="memory"):
        _merge(computed)


def test_every_catalogued_metric_is_computed_for_its_phases(tmp_path: Path) -> None:
    """A hand-made run with a Postgres restart, writes and samples has every phase kind;
    each catalogued metric is a key of result.json's metrics in each phase kind it is
    declared for (its value may be None: not measured, which is an answer)."""
    result = verify_run(_restart_run(tmp_path / "run", 'name = "registry"\n'))
    kinds = {p["kind"] for p in result["phases"]} | {"run"}
    assert kinds == {"warmup", "steady", "fault", "recovery", "run"}
    missing = [f"{name}@{kind}" for name, spec in METRICS.items()
               for kind in sorted(spec.phases & kinds) if name not in result["metrics"][kind]]
    assert not missing, f"catalogued but not computed: {missing}"

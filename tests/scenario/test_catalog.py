"""The fault catalogue is one consistent registry the loader, CLI and conductor share."""

from __future__ import annotations

from harness.faults.catalog import FAULTS

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "duration": float}


def test_every_entry_is_well_formed() -> None:
    """Names match keys, families are known, defaults fit their own specs."""
    assert len(FAULTS) >= 20
    for name, spec in FAULTS.items():
        assert spec.name == name and name.split(".")[0] in ("network", "postgres", "app")
        assert spec.description and spec.window in ("required", "optional", "forbidden")
        assert not (spec.needs_window and spec.instant)
        for pname, p in spec.params.items():
            assert p.description, f"{name}.{pname} has no description"
            if p.required:
                assert p.default is None, f"{name}.{pname}: required with a default"
                continue
            if p.default is None:
                continue
            assert isinstance(p.default, _TYPES[p.type]), f"{name}.{pname} default type"
            if p.choices is not None:
                assert p.default in p.choices
            if p.min is not None:
                assert p.default >= p.min  # type: ignore[operator]


def test_brief_actions_are_all_present() -> None:
    """Every action the architecture names is in the catalogue."""
    expected = {
        "network.latency", "network.bandwidth", "network.slow_close", "network.timeout",
        "network.reset_peer", "network.slicer", "network.limit_data", "network.down",
        "postgres.stop", "postgres.crash", "postgres.restart", "postgres.freeze",
        "postgres.exhaust_connections", "postgres.set_max_connections",
        "postgres.terminate_backends", "postgres.drift_schema",
        "app.kill", "app.term", "app.freeze", "app.raise", "app.flood_tasks",
    }
    assert expected <= set(FAULTS)
    assert all(FAULTS[n].params["proxy"].default == "postgres"
               for n in expected if n.startswith("network."))

"""The fault catalogue is one consistent registry the loader, CLI and conductor share."""

from __future__ import annotations

from harness.faults.catalog import AFFECTS, FAULTS, UNDOS, FaultEffect, effect_of

#: What each requirement means a fault acts on.
_AFFECTS_BY_REQUIREMENT = {"proxy": "link", "postgres_process": "postgres",
                           "postgres_sql": "postgres", "app_process": "app", "app_hooks": "app"}
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


def test_every_entry_says_what_it_affects_and_how_it_is_undone() -> None:
    """``affects`` agrees with what the fault requires of the target; a link fault takes the
    proxy it names; an instant fault (no ``for``) is never undone by a removal, and a fault
    that needs a window always is undone somehow."""
    for name, spec in FAULTS.items():
        assert spec.affects in AFFECTS and spec.undo in UNDOS, name
        assert spec.affects == _AFFECTS_BY_REQUIREMENT[spec.requires], name
        assert ("proxy" in spec.params) == (spec.affects == "link"), name
        if spec.instant:
            assert spec.undo != "remove", name
        if spec.needs_window:
            assert spec.undo != "none", name
    assert effect_of("network.latency", {"proxy": "payments"}) == FaultEffect(
        "link", "remove", "payments")
    assert effect_of("network.down", {}).link == "postgres"  # type: ignore[union-attr]
    assert effect_of("postgres.stop", {"proxy": "x"}) == FaultEffect("postgres", "restart")
    assert effect_of("nope.nothing", {}) is None

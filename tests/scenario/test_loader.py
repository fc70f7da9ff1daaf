"""The scenario loader: the shipped files validate, and every mistake is located and explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import (
    list_scenarios,
    list_suites,
    load_scenario,
    load_suite,
    loads_scenario,
    scenario_to_toml,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
REQUIRED = {
    "db-restart", "db-crash", "db-freeze", "db-flap", "network-latency", "network-reset",
    "proxy-down", "pool-exhaustion", "too-many-clients", "schema-drift", "startup-db-down",
    "app-sigkill", "app-sigterm-drain", "task-flood", "unhandled-errors", "soak",
    "planted-leak", "planted-write-loss", "planted-connection-leak", "planted-rss-leak",
    "load-10x",
    "naive-db-restart", "naive-app-sigkill",
}
BASE = """
name = "t"
duration = "30s"
[[fault]]
at = "10s"
for = "5s"
action = "network.latency"
latency = 100
[slo.run]
lost_writes = "== 0"
"""


def _error(text: str, **overrides: object) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "x.toml", overrides or None)
    return info.value


@pytest.mark.parametrize("path", list_scenarios(SCENARIOS), ids=lambda p: p.stem)
def test_every_shipped_scenario_validates_and_round_trips(path: Path) -> None:
    """Each file loads, is short by default, states SLOs, and scenario_to_toml reads back equal."""
    scenario = load_scenario(path)
    assert scenario.name == path.stem and scenario.description
    # the soak is as short as its RSS slope and uptime bound allow, the planted RSS leak as
    # its slope allows (2 min after warm-up); the rest <= 1 min
    longest = {"soak": 300, "planted-rss-leak": 130}.get(path.stem, 60)
    assert 20 <= scenario.duration <= longest and scenario.slos
    assert loads_scenario(scenario_to_toml(scenario), path.name) == scenario
    if scenario.expect == "fail":
        assert scenario.expect_fail and all(scenario.slo(i) for i in scenario.expect_fail)


def test_every_failure_mode_has_a_scenario() -> None:
    """The architecture's failure modes and both naive controls are all shipped."""
    assert REQUIRED <= {p.stem for p in list_scenarios(SCENARIOS)}
    for name in ("naive-db-restart", "naive-app-sigkill"):
        s = load_scenario(SCENARIOS / f"{name}.toml")
        assert s.target.profile == "naive" and s.expect == "fail"
    leak = load_scenario(SCENARIOS / "planted-leak.toml")
    assert leak.target.env["REFERENCE_IMPL_PLANT_LEAK"] == "1" and leak.observe.tracemalloc
    loss = load_scenario(SCENARIOS / "planted-write-loss.toml")
    assert loss.target.env["REFERENCE_IMPL_PLANT_WRITE_BEHIND"] == "1"
    assert loss.expect_fail == ("lost_writes@run",)
    assert [f.action for f in loss.faults] == ["app.kill"]
    conns = load_scenario(SCENARIOS / "planted-connection-leak.toml")
    assert int(conns.target.env["REFERENCE_IMPL_PLANT_CONNECTION_LEAK"]) > 0
    assert conns.expect_fail == ("connection_leaks@run",)
    tenx = load_scenario(SCENARIOS / "load-10x.toml")
    assert tenx.load.shape == "step" and tenx.load.peak_users == 10 * tenx.load.users


def test_suites_validate_and_include_controls() -> None:
    """smoke is short and has a negative control; nightly has everything and a 1 h soak."""
    suites = {s.stem: load_suite(s) for s in list_suites(SCENARIOS)}
    smoke, nightly = suites["smoke"], suites["nightly"]
    loaded = [load_scenario(p, smoke.overrides_for(p)) for p in smoke.scenarios]
    assert any(s.expect == "fail" for s in loaded)
    assert sum(s.warmup + s.duration + s.cooldown + 20 for s in loaded) < 300
    assert {p.stem for p in nightly.scenarios} >= REQUIRED
    soak = next(p for p in nightly.scenarios if p.stem == "soak")
    assert load_scenario(soak, nightly.overrides_for(soak)).duration == 3600


def test_defaults_are_resolved() -> None:
    """A minimal file gets every documented default, and fault params get theirs."""
    s = loads_scenario(BASE, "x.toml")
    assert (s.seed, s.warmup, s.cooldown, s.expect) == (0, 5.0, 5.0, "pass")
    assert s.target.kind == "reference" and s.target.profile == "resilient"
    assert s.load.users == 20 and s.load.mix["post_message"] == 5 and s.load.wait_ms == (50, 200)
    assert s.observe.tick == 1.0 and "idempotency_key" in s.verify.writes_sql
    fault = s.faults[0]
    assert fault.params == {"proxy": "postgres", "stream": "downstream", "toxicity": 1.0,
                            "latency": 100, "jitter": 0}
    assert fault.windows() == [(10.0, 15.0)]


def test_error_names_file_key_and_expectation() -> None:
    """The documented message form: '<file>: fault[N].at: must be <= duration (30s), got 45s'."""
    err = _error(BASE.replace('at = "10s"', 'at = "45s"'))
    assert str(err) == "x.toml: fault[0].at: must be <= duration (30s), got 45s"
    assert (err.file, err.key) == ("x.toml", "fault[0].at")


@pytest.mark.parametrize(
    ("edit", "key", "fragment"),
    [
        (("", "duraton = 1\n"), "duraton", "did you mean 'duration'"),
        (('action = "network.latency"', 'action = "network.latensy"'), "fault[0].action",
         "did you mean 'network.latency'"),
        (("latency = 100", "latency = 100\njiter = 5"), "fault[0].jiter", "did you mean 'jitter'"),
        (("latency = 100", 'latency = "100"'), "fault[0].latency", "expected int"),
        (("latency = 100", "latency = -1"), "fault[0].latency", "must be >= 0"),
        (("latency = 100", ""), "fault[0].latency", "required by network.latency"),
        (('for = "5s"\n', ""), "fault[0].for", "required by network.latency"),
        (('for = "5s"', 'for = "25s"'), "fault[0].for", "at + for (35s) must be <= duration"),
        (('for = "5s"', 'for = "5s"\nrepeat = { every = "4s", count = 2 }'),
         "fault[0].repeat.every", "overlap"),
        (('for = "5s"', 'for = "5s"\nrepeat = { every = "6s", count = 4 }'),
         "fault[0].repeat.count", "after the duration"),
        (('lost_writes = "== 0"', 'lost_writes = "0"'), "slo.run.lost_writes", "<op> <number>"),
        (('lost_writes = "== 0"', 'lost_write = "== 0"'), "slo.run.lost_write",
         "did you mean 'lost_writes'"),
        (("[slo.run]", "[slo.rn]"), "slo.rn", "did you mean 'run'"),
        (('name = "t"', 'name = "t"\nexpect = "fail"'), "expect_fail", "required when"),
        (('name = "t"', 'name = "t"\nexpect = "fail"\nexpect_fail = ["availability@steady"]'),
         "expect_fail[0]", "no [slo.steady] table declares"),
        (('name = "t"', 'name = "a b"'), "name", "letters, digits"),
        (("$", '\n[load]\nmix = { post_mesage = 1 }'), "load.mix.post_mesage",
         "did you mean 'post_message'"),
        (("$", '\n[load]\nspike_users = 5'), "load.spike_users",
         'only used with shape = "spike"'),
        (("$", '\n[load]\nshape = "step"\nsteps = 2\nstep_users = 5'),
         "load.step_every", "required when"),
        (("$", '\n[load]\nwait_ms = [300, 100]'), "load.wait_ms", "min <= max"),
        (("$", '\n[target]\nkind = "url"'), "target.url", "required when"),
        (("$", '\n[postgres]\nprovider = "dsn"'), "postgres.dsn", "required"),
        (("$", '\n[target]\nprofile = "naïve"'), "target.profile",
         "did you mean 'naive'"),
        (("$", '\n[target]\nchaos_hooks = 1'), "target.chaos_hooks",
         "true or false"),
        (("$", '\n[verify]\nrecovery_window = "1x"'), "verify.recovery_window", "duration"),
        (("$", '\n[verify]\nrecovery_min_ok = 99'), "verify.recovery_min_ok",
         "a share in (0, 1]"),
        (("$", '\n[verify]\nrecovery_min_ok = "ninety%"'), "verify.recovery_min_ok",
         "a percentage"),
        (("$", '\n[verify]\nrecovery_min_ok = true'), "verify.recovery_min_ok", "got bool"),
        (("$", '\n[verify]\nrecovery_windw = "5s"'), "verify.recovery_windw",
         "did you mean 'recovery_window'"),
    ],
)
def test_mistakes_are_located(edit: tuple[str, str], key: str, fragment: str) -> None:
    """Each kind of mistake raises ScenarioError at the right key path with a useful message."""
    old, new = edit
    if old in ("", "$"):  # "": a top-level key before the tables; "$": a table at the end
        text = new + BASE if not old else BASE + new
    else:
        text = BASE.replace(old, new, 1)
    err = _error(text)
    assert err.key == key, str(err)
    assert fragment in err.problem, str(err)


def test_faults_need_a_target_they_can_reach() -> None:
    """Process faults on a URL target, or Postgres process faults on a DSN, are refused."""
    app = 'name = "t"\n[target]\nkind = "url"\nurl = "http://127.0.0.1:1"\n' \
          '[[fault]]\nat = "1s"\naction = "app.kill"\n'
    assert "needs a target the harness starts" in _error(app).problem
    pg = 'name = "t"\n[postgres]\nprovider = "dsn"\ndsn = "postgresql://x@h/db"\n' \
         '[[fault]]\nat = "1s"\naction = "postgres.restart"\n'
    assert 'provider = "embedded"' in _error(pg).problem
    hooks = ('name = "t"\n[target]\nchaos_hooks = false\n'
             '[[fault]]\nat = "1s"\naction = "app.raise"\n')
    assert _error(hooks).key == "fault[0].action"
    instant = 'name = "t"\n[[fault]]\nat = "1s"\nfor = "2s"\naction = "postgres.restart"\n'
    assert "instant" in _error(instant).problem


def test_schema_drift_on_a_users_database_needs_an_explicit_opt_in() -> None:
    """postgres.drift_schema on [postgres] provider = "dsn" (a database the harness does not
    own, which a killed harness would leave drifted) is refused at load time unless the
    scenario says allow_schema_drift = true; the embedded provider needs no opt-in."""
    drift = ('[[fault]]\nat = "1s"\nfor = "1s"\naction = "postgres.drift_schema"\n'
             'table = "nodes"\ncolumn = "node_id"\nnew_name = "id"\n')
    dsn = 'name = "t"\n[postgres]\nprovider = "dsn"\ndsn = "postgresql://x@h/db"\n'
    err = _error(dsn + drift)
    assert err.key == "fault[0].action" and "allow_schema_drift = true" in err.problem
    opted = loads_scenario(dsn.replace('db"\n', 'db"\nallow_schema_drift = true\n') + drift,
                           "x.toml")
    assert opted.postgres.allow_schema_drift and opted.faults[0].action == "postgres.drift_schema"
    embedded = loads_scenario('name = "t"\n' + drift, "x.toml")
    assert not embedded.postgres.allow_schema_drift
    assert "allow_schema_drift = true" in scenario_to_toml(opted)
    bad = dsn.replace('db"\n', 'db"\nallow_schema_drift = "yes"\n')
    assert _error(bad).key == "postgres.allow_schema_drift"


def test_overrides_apply_before_validation() -> None:
    """CLI overrides (strings allowed for ints) change the scenario and are validated."""
    s = loads_scenario(BASE, "x.toml", {"duration": "24h", "users": "50", "seed": 9,
                                        "profile": "naive", "workers": 2})
    assert (s.duration, s.load.users, s.seed, s.target.profile, s.load.workers) == (
        86400.0, 50, 9, "naive", 2)
    assert _error(BASE, duration="12s").key == "fault[0].for"
    assert _error(BASE, users="many").key == "overrides.users"
    err = _error(BASE, duraton="1m")
    assert err.key == "overrides.duraton" and "did you mean 'duration'" in err.problem


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    """A missing file, bad TOML or non-UTF-8 bytes name the file and the cause."""
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.toml: not valid TOML"):
        load_scenario(bad)
    bad.write_bytes(b"name = \"\xff\"\n")
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(bad)


def test_loaded_file_keeps_its_source(tmp_path: Path) -> None:
    """load_scenario records the file; the name defaults to the file's stem."""
    path = tmp_path / "my-case.toml"
    path.write_text(BASE.replace('name = "t"\n', ""), encoding="utf-8")
    s = load_scenario(path)
    assert s.name == "my-case" and s.source == path


def test_suite_errors(tmp_path: Path) -> None:
    """Unknown scenarios and overrides for scenarios not in the suite are located."""
    (tmp_path / "suites").mkdir()
    (tmp_path / "a.toml").write_text(BASE, encoding="utf-8")
    suite = tmp_path / "suites" / "s.toml"
    suite.write_text('name = "s"\nscenarios = ["b"]\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"scenarios\[0\]: no scenario file 'b'"):
        load_suite(suite)
    suite.write_text('name = "s"\nscenarios = ["a"]\n[overrides.c]\nduration = "1m"\n',
                     encoding="utf-8")
    with pytest.raises(ScenarioError, match="overrides.c: not a scenario of this suite"):
        load_suite(suite)
    suite.write_text('name = "s"\nscenarios = ["a"]\n[overrides.a]\nduration = "12s"\n',
                     encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"fault\[0\]\.for"):
        load_suite(suite)


def test_suite_paths_resolve_against_the_suite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path in a suite means the same from any working directory: it is taken
    relative to the suite file, and a same-named file in the working directory is ignored."""
    (tmp_path / "scenarios" / "suites").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x.toml").write_text(BASE.replace('name = "t"', 'name = "right"'),
                                                encoding="utf-8")
    suite = tmp_path / "scenarios" / "suites" / "s.toml"
    suite.write_text('name = "s"\nscenarios = ["../../shared/x.toml"]\n', encoding="utf-8")
    elsewhere = tmp_path / "elsewhere" / "a" / "b"
    (elsewhere.parent.parent / "shared").mkdir(parents=True)
    (elsewhere.parent.parent / "shared" / "x.toml").write_text("not toml [", encoding="utf-8")
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    loaded = load_suite(suite)
    assert loaded.scenarios == [tmp_path / "shared" / "x.toml"]
    assert load_scenario(loaded.scenarios[0]).name == "right"
    suite.write_text('name = "s"\nscenarios = ["../../nowhere.toml"]\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"no scenario file '../../nowhere.toml' \(looked for "):
        load_suite(suite)


@pytest.mark.parametrize(("text", "share"), [("0.95", 0.95), ('"97.5%"', 0.975), ("1", 1.0)])
def test_recovery_rule_is_read_and_written(text: str, share: float) -> None:
    """[verify] recovery_window / recovery_min_ok load (a share or a percentage) and survive
    the scenario.toml a run writes, which is what verify reads back."""
    scenario = loads_scenario(
        BASE + f'\n[verify]\nrecovery_window = "8s"\nrecovery_min_ok = {text}\n', "x.toml")
    assert (scenario.verify.recovery_window, scenario.verify.recovery_min_ok) == (8.0, share)
    assert loads_scenario(scenario_to_toml(scenario), "x.toml") == scenario

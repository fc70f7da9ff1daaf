"""Read a scenario TOML file into a resolved, validated :class:`Scenario`.

Every problem is a :class:`~harness.errors.ScenarioError` naming the file, the key
path and what was expected (``db-restart.toml: fault[2].at: must be <= duration
(30s), got 45s``); unknown keys are errors with a did-you-mean. Faults are checked
against :data:`harness.faults.catalog.FAULTS`, SLOs against the metric catalogue.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.brief import brief
from harness.errors import ScenarioError
from harness.scenario.dependencies import check_listen, links, parse_dependencies
from harness.scenario.document import MAX_DEPTH, MAX_FILE_BYTES, check_document, huge_literal_problem
from harness.scenario.durations import format_duration
from harness.scenario.fault_entries import parse_faults
from harness.scenario.fault_timing import check_overlaps, check_recovery_room, counted_slos
from harness.scenario.fields import Table, did_you_mean_text, type_name
from harness.scenario.latency_ceiling import check_latency_ceiling
from harness.scenario.load_section import LOAD_KEYS, parse_load
from harness.scenario.schema import (
    DEFAULT_WRITES_SQL,
    EXPECTS,
    PROFILES,
    ObserveSpec,
    PostgresSpec,
    ProxySpec,
    Scenario,
    TargetSpec,
    VerifySpec,
    frozen_map,
)
from harness.slo import Slo, parse_slo
from harness.verify.catalog import PHASE_KINDS, split_slo_id

__all__ = ["OVERRIDABLE", "load_recorded", "load_scenario", "loads_scenario", "read_toml"]

_TOP = ("name", "description", "seed", "duration", "warmup", "cooldown", "expect",
        "expect_fail", "target", "postgres", "proxy", "dependency", "load", "fault", "observe",
        "slo", "verify")
_TARGET = ("kind", "profile", "chaos_hooks", "env", "auto_migrate", "migrate_to", "command",
           "url", "health_path", "ready_path", "stats_path", "dsn_env", "locustfile",
           "workdir", "listen_host", "unhandled_error_patterns")
#: The reference app's probes: the defaults for kind = "reference" only.
_REFERENCE_PROBES = {"health_path": "/health", "ready_path": "/health/ready",
                     "stats_path": "/api/monitoring/stats"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
#: Override name -> key path in the scenario file.
OVERRIDABLE: dict[str, tuple[str, ...]] = {
    "duration": ("duration",), "seed": ("seed",), "profile": ("target", "profile"),
    "workers": ("load", "workers"), "users": ("load", "users"), "cooldown": ("cooldown",),
    "expect_workers": ("load", "expect_workers"), "master_bind": ("load", "master_bind"),
    "expect_workers_timeout": ("load", "expect_workers_timeout"),
}


def read_toml(path: Path) -> dict[str, Any]:
    """Parse ``path`` as TOML; unreadable, oversized, malformed or hostile files (huge
    numbers, deep nesting) raise ScenarioError."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(str(path), "", f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(str(path), "", f"larger than {MAX_FILE_BYTES // 1024} KiB: not a "
                            "scenario file (the shipped ones are a few KiB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), "", f"not UTF-8 text: {exc}") from None
    return _parse_toml(text, str(path))


def _parse_toml(text: str, file: str) -> dict[str, Any]:
    """The TOML document in ``text``, checked by :func:`~harness.scenario.document.check_document`.

    tomllib recurses once per nesting level and turns integer literals into Python ints,
    so deep nesting raises RecursionError and a literal of more than 4300 digits a
    ValueError that is not a TOMLDecodeError: both are ScenarioErrors here."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(file, "", f"larger than {MAX_FILE_BYTES // 1024} KiB: not a "
                            "scenario file (the shipped ones are a few KiB)")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(file, "", f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(file, "", f"nested too deeply: arrays and tables nest at most "
                            f"{MAX_DEPTH} levels deep here") from None
    except ValueError as exc:  # int("<more than 4300 digits>")
        raise ScenarioError(file, "", huge_literal_problem(text, exc)) from None
    check_document(doc, file)
    return doc


def load_scenario(path: Path | str, overrides: Mapping[str, object] | None = None) -> Scenario:
    """The resolved scenario in ``path``, with ``overrides`` (duration, profile, seed,
    workers, users) applied before validation."""
    path = Path(path)
    raw = read_toml(path)
    scenario = _resolve_paths(_build(raw, str(path), path.stem, overrides), path.parent)
    return _with_source(scenario, path)


def load_recorded(path: Path | str) -> Scenario:
    """A run directory's ``scenario.toml`` (the scenario as run), for verify and the report:
    validated as any scenario; one without a name (hand-made) is named after its directory.
    Its paths are left as written (nothing is started from them)."""
    path = Path(path)
    stem = path.parent.name if _NAME.fullmatch(path.parent.name) else "scenario"
    return _with_source(_build(read_toml(path), str(path), stem, None), path)


def _resolve_paths(scenario: Scenario, base: Path) -> Scenario:
    """Workdirs (a command target's, a dependency's command) and a locustfile, relative to
    the scenario file, made absolute: a command with no workdir runs in the file's directory."""
    t = scenario.target
    workdir = str((base / t.workdir).resolve()) if t.kind == "command" else t.workdir
    locustfile = str((base / t.locustfile).resolve()) if t.locustfile else ""
    target = dataclasses.replace(t, workdir=workdir, locustfile=locustfile)
    deps = tuple(dataclasses.replace(d, workdir=str((base / d.workdir).resolve()))
                 if d.command else d for d in scenario.dependencies)
    return dataclasses.replace(scenario, target=target, dependencies=deps)


def loads_scenario(
    text: str, file: str = "<string>", overrides: Mapping[str, object] | None = None
) -> Scenario:
    """Like :func:`load_scenario` for TOML text (``file`` only labels errors)."""
    return _build(_parse_toml(text, file), file, Path(file).stem, overrides)


def _with_source(scenario: Scenario, path: Path) -> Scenario:
    object.__setattr__(scenario, "source", path)
    return scenario


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, object], file: str) -> None:
    """Set each override's key in the raw document (CLI strings become ints where due)."""
    for name, value in overrides.items():
        keys = OVERRIDABLE.get(name)
        if keys is None:
            raise ScenarioError(file, f"overrides.{name}", "cannot be overridden"
                                + did_you_mean_text(name, OVERRIDABLE)
                                + f"; expected one of: {', '.join(OVERRIDABLE)}")
        if name in ("seed", "workers", "users", "expect_workers") and isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise ScenarioError(file, f"overrides.{name}",
                                    f"expected an integer, got {brief(value)}") from None
        table = raw
        for key in keys[:-1]:
            sub = table.setdefault(key, {})
            if not isinstance(sub, dict):
                raise ScenarioError(file, key, f"expected a table, got {type_name(sub)}")
            table = sub
        table[keys[-1]] = value


def _build(
    raw: dict[str, Any], file: str, stem: str, overrides: Mapping[str, object] | None
) -> Scenario:
    if overrides:
        apply_overrides(raw, overrides, file)
    top = Table(file, "", raw, _TOP)
    name = top.str_("name", stem)
    if not _NAME.fullmatch(name):
        raise top.error("name", "expected letters, digits, '.', '_' or '-' (it names the run "
                        f"directory), got {brief(name)}")
    duration = top.duration("duration", 60.0)
    if duration <= 0:
        raise top.error("duration", "must be > 0")
    warmup = top.duration("warmup", 5.0)
    if warmup >= duration:
        raise top.error("warmup", f"must be < duration ({format_duration(duration)}), got "
                        f"{format_duration(warmup)}: the run would have no steady phase and "
                        "every fault would land in the warm-up")
    target = _parse_target(top)
    postgres = _parse_postgres(top)
    dependencies = parse_dependencies(top)
    slos = _parse_slos(top)
    expect, expect_fail = _parse_expect(top, slos)
    faults = parse_faults(top, duration, target, postgres, links(postgres, dependencies))
    verify = _parse_verify(top)
    check_overlaps(file, faults, duration)
    check_recovery_room(file, faults, duration, verify.recovery_window,
                        counted_slos(slos, expect, expect_fail))
    load = parse_load(top.table("load", LOAD_KEYS), duration)
    check_latency_ceiling(file, slos, load.request_timeout)
    return Scenario(
        name=name,
        description=top.str_("description", ""),
        seed=top.int_("seed", 0, 0, 2**63 - 1),
        duration=duration,
        warmup=warmup,
        cooldown=top.duration("cooldown", 5.0),
        expect=expect,
        expect_fail=expect_fail,
        target=target,
        postgres=postgres,
        proxy=_parse_proxy(top),
        dependencies=dependencies,
        load=load,
        faults=faults,
        observe=_parse_observe(top),
        slos=slos,
        verify=verify,
    )


def _parse_target(top: Table) -> TargetSpec:
    t = top.table("target", _TARGET)
    kind = t.str_("kind", "reference", ("reference", "command", "url"))
    probes = {key: t.str_(key, default if kind == "reference" else "")
              for key, default in _REFERENCE_PROBES.items()}
    spec = TargetSpec(
        kind=kind,
        profile=t.str_("profile", "resilient", PROFILES),
        chaos_hooks=t.bool_("chaos_hooks", True),
        env=frozen_map(t.str_map("env")),  # type: ignore[arg-type]
        auto_migrate=t.bool_("auto_migrate", True),
        migrate_to=t.str_("migrate_to", ""),
        command=t.str_("command", ""),
        url=t.str_("url", ""),
        dsn_env=t.str_("dsn_env", "DATABASE_URL"),
        locustfile=t.str_("locustfile", ""),
        workdir=t.str_("workdir", ""),
        listen_host=t.str_("listen_host", "127.0.0.1"),
        unhandled_error_patterns=tuple(_patterns(t)),
        **probes,
    )
    if spec.migrate_to and not re.fullmatch(r"\d{3}", spec.migrate_to):
        raise t.error("migrate_to", f'expected a migration number like "001", got '
                      f"{brief(spec.migrate_to)}")
    for key, path in probes.items():
        if path and not path.startswith("/"):
            raise t.error(key, f"expected a path starting with '/' (or \"\" for none), got {brief(path)}")
    if kind == "command" and not spec.command:
        raise t.error("command", 'required when kind = "command" (the line that starts it)')
    if kind == "url" and not spec.url:
        raise t.error("url", 'required when kind = "url" (where the service answers)')
    if kind == "url" and t.has("listen_host"):
        raise t.error("listen_host", 'only used with kind = "reference" or "command" (a url '
                      "target listens where it was started)")
    if kind != "command" and spec.workdir:
        raise t.error("workdir", 'only used with kind = "command"')
    if kind == "reference":
        for key in ("command", "url"):
            if getattr(spec, key):
                raise t.error(key, 'only used with kind = "command" or "url"')
    if spec.url and not re.match(r"https?://", spec.url):
        raise t.error("url", f"expected an http:// or https:// URL, got {brief(spec.url)}")
    return spec


def _patterns(t: Table) -> list[str]:
    patterns = t.str_list("unhandled_error_patterns")
    if patterns:  # imported here: harness.observe pulls in httpx and asyncpg
        from harness.observe.stderr_scan import compile_patterns
    for i, pattern in enumerate(patterns):
        try:
            compile_patterns([pattern])
        except ValueError as exc:
            raise ScenarioError(t.file, f"{t.key('unhandled_error_patterns')}[{i}]",
                                str(exc)) from None
    return patterns


def _parse_postgres(top: Table) -> PostgresSpec:
    t = top.table("postgres", ("provider", "dsn", "fsync", "max_connections", "listen",
                               "allow_schema_drift"))
    spec = PostgresSpec(
        provider=t.str_("provider", "embedded", ("embedded", "dsn")),
        dsn=t.str_("dsn", ""),
        fsync=t.bool_("fsync", True),
        max_connections=t.int_("max_connections", 100, 10, 10000),
        listen=check_listen(t, "listen", t.str_("listen", "127.0.0.1:0")),
        allow_schema_drift=t.bool_("allow_schema_drift", False),
    )
    if spec.provider == "dsn" and not spec.dsn:
        raise t.error("dsn", 'required when provider = "dsn"')
    if spec.provider == "embedded" and spec.dsn:
        raise t.error("dsn", 'only used with provider = "dsn"')
    return spec


def _parse_proxy(top: Table) -> ProxySpec:
    t = top.table("proxy", ("kind", "url", "path"))
    spec = ProxySpec(kind=t.str_("kind", "embedded", ("embedded", "toxiproxy")),
                     url=t.str_("url", ""), path=t.str_("path", ""))
    if spec.kind == "embedded" and (spec.url or spec.path):
        raise t.error("url" if spec.url else "path", 'only used with kind = "toxiproxy"')
    return spec


def _parse_observe(top: Table) -> ObserveSpec:
    t = top.table("observe", ("tick", "memory_every", "tracemalloc"))
    tick = t.duration("tick", 1.0, lo=0.05)
    return ObserveSpec(tick=tick, memory_every=t.duration("memory_every", 10.0, lo=tick),
                       tracemalloc=t.bool_("tracemalloc", False))


def _parse_verify(top: Table) -> VerifySpec:
    t = top.table("verify", ("abort_on_lost_write", "writes", "recovery_window", "recovery_min_ok"))
    writes = t.table("writes", ("sql",))
    sql = writes.str_("sql", DEFAULT_WRITES_SQL)
    if not sql.strip():
        raise writes.error("sql", "must not be empty")
    window = t.duration("recovery_window", VerifySpec.recovery_window, lo=0.1)
    return VerifySpec(abort_on_lost_write=t.bool_("abort_on_lost_write", False), writes_sql=sql,
                      recovery_window=window, recovery_min_ok=_fraction(t, "recovery_min_ok"))


def _fraction(t: Table, name: str) -> float:
    """A share in (0, 1]: a number (``0.99``) or a percentage string (``"99%"``)."""
    value = t.data.get(name, VerifySpec.recovery_min_ok)
    expected = 'a share in (0, 1] such as 0.99, or a percentage such as "99%"'
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100
        except ValueError:
            raise t.error(name, f"expected {expected}, got {brief(value)}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        share = float(value)
    else:
        raise t.error(name, f"expected {expected}, got {type_name(value)} {brief(value)}")
    if not 0 < share <= 1:
        raise t.error(name, f"expected {expected}, got {brief(value)}")
    return share


def _parse_slos(top: Table) -> tuple[Slo, ...]:
    if not top.has("slo"):
        return ()
    raw = top.data["slo"]
    if not isinstance(raw, dict):
        raise top.error("slo", f"expected tables [slo.<phase>], got {type_name(raw)}")
    slos: list[Slo] = []
    for phase, table in raw.items():
        if not isinstance(table, dict):
            raise ScenarioError(top.file, f"slo.{phase}",
                                f"expected a table of metric = \"<op> <number>\", got "
                                f"{type_name(table)}")
        if phase not in PHASE_KINDS:
            raise ScenarioError(top.file, f"slo.{phase}", "unknown phase"
                                + did_you_mean_text(phase, PHASE_KINDS)
                                + f"; expected one of: {', '.join(PHASE_KINDS)}")
        for metric, text in table.items():
            try:
                slos.append(parse_slo(phase, metric, text))
            except ValueError as exc:
                raise ScenarioError(top.file, f"slo.{phase}.{metric}", str(exc)) from None
    return tuple(slos)


def _parse_expect(top: Table, slos: tuple[Slo, ...]) -> tuple[str, tuple[str, ...]]:
    expect = top.str_("expect", "pass", EXPECTS)
    names = top.str_list("expect_fail")
    ids: list[str] = []
    declared = [s.id for s in slos]
    for i, text in enumerate(names):
        metric, phase = split_slo_id(text)
        slo_id = f"{metric}@{phase}"
        if slo_id not in declared:
            raise ScenarioError(top.file, f"expect_fail[{i}]",
                                f"names {brief(slo_id)}, which no [slo.{phase}] table declares"
                                + did_you_mean_text(slo_id, declared))
        ids.append(slo_id)
    if expect == "fail" and not ids:
        raise top.error("expect_fail", 'required when expect = "fail": the SLO ids '
                        '("<metric>@<phase>") this negative control must break')
    if expect == "pass" and ids:
        raise top.error("expect_fail", 'only used with expect = "fail"')
    return expect, tuple(ids)


"""``result.json`` (docs/run-directory.md): :class:`ResultRecord`, what verify judged.

The top level is typed here; the sections (``metrics``, ``slos``, ``faults``, ``writes``,
``load``, ``memory``, ``process``, ...) are the checkers' own JSON objects, documented
field by field in docs/run-directory.md. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from harness.records.base import FORMAT_VERSION, RecordError, check_format, opt_bool, opt_str

__all__ = ["VERDICTS", "FaultOutcome", "ResultRecord", "WriteAccounting"]

#: An SLO's verdict and the run's: any fail -> fail, else any unknown -> unknown.
VERDICTS = ("pass", "fail", "unknown")


@dataclass
class ResultRecord:
    """The content of result.json, in the order it is written."""

    scenario: str | None
    run_id: str
    run_status: str | None
    error: str | None
    expect: str
    expect_fail: Sequence[str]
    verdict: str
    #: None when the expectation was not judged (a result.json without it)
    as_expected: bool | None
    expectation_reasons: Sequence[str]
    phases: Sequence[Mapping[str, object]]
    metrics: Mapping[str, Mapping[str, object]]
    metrics_by_phase: Mapping[str, Mapping[str, object]]
    #: Per phase kind, the trials of each rate metric: ``[successes, trials]`` (Wilson bound)
    rate_counts: Mapping[str, Mapping[str, object]]
    slos: Sequence[Mapping[str, object]]
    faults: Sequence[FaultOutcome]
    writes: Mapping[str, object]
    load: Mapping[str, object]
    memory: Mapping[str, object]
    process: Mapping[str, object]
    recovery_rule: Mapping[str, object]
    seed: int | None = None
    profile: str | None = None
    versions: Mapping[str, object] = field(default_factory=dict)
    host: Mapping[str, object] = field(default_factory=dict)
    verify_seconds: float | None = None
    format: int = FORMAT_VERSION
    #: Keys this version does not know.
    extra: Mapping[str, object] = field(default_factory=dict)

    def metric(self, name: str, phase: str) -> object:
        """``metrics[phase][name]`` as verify wrote it (None when absent: not measured)."""
        return self.metrics.get(phase, {}).get(name)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"format": self.format}
        for f in fields(self):
            if f.name in ("format", "extra") or (f.name == "verify_seconds"
                                                 and self.verify_seconds is None):
                continue
            out[f.name] = getattr(self, f.name)
        out["faults"] = [f.to_json() for f in self.faults]
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, object], what: str = "result.json") -> ResultRecord:
        """Parse result.json; sections absent from an older format read as empty."""
        if not isinstance(obj, Mapping):
            raise RecordError(f"{what}: expected a JSON object")
        fmt = check_format(obj, what)
        verdict = obj.get("verdict", "unknown")
        if verdict not in VERDICTS:
            raise RecordError(f"{what}: verdict must be one of {list(VERDICTS)}, got {verdict!r}")

        def section(name: str) -> dict[str, object]:
            value = obj.get(name)
            if value is not None and not isinstance(value, dict):
                raise RecordError(f"{what}: {name} must be an object, got {value!r}")
            return dict(value or {})

        def items(name: str) -> list[dict[str, object]]:
            value = obj.get(name)
            if value is not None and not isinstance(value, list):
                raise RecordError(f"{what}: {name} must be a list, got {value!r}")
            return [dict(v) for v in value or [] if isinstance(v, dict)]

        def strings(name: str) -> list[str]:
            value = obj.get(name)
            return [str(v) for v in value] if isinstance(value, list) else []

        seed = obj.get("seed")
        vs = obj.get("verify_seconds")
        known = {f.name for f in fields(cls)}
        return cls(
            scenario=opt_str(obj, "scenario", what), run_id=str(obj.get("run_id") or ""),
            run_status=opt_str(obj, "run_status", what), error=opt_str(obj, "error", what),
            expect=str(obj.get("expect") or "pass"), expect_fail=strings("expect_fail"),
            verdict=str(verdict), as_expected=opt_bool(obj, "as_expected", what),
            expectation_reasons=strings("expectation_reasons"), phases=items("phases"),
            metrics={k: dict(v) for k, v in section("metrics").items() if isinstance(v, dict)},
            metrics_by_phase={k: dict(v) for k, v in section("metrics_by_phase").items()
                              if isinstance(v, dict)},
            rate_counts={k: dict(v) for k, v in section("rate_counts").items()
                         if isinstance(v, dict)},
            slos=items("slos"), faults=[FaultOutcome.from_json(f) for f in items("faults")],
            writes=section("writes"),
            load=section("load"), memory=section("memory"), process=section("process"),
            recovery_rule=section("recovery_rule"),
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            profile=opt_str(obj, "profile", what), versions=section("versions"),
            host=section("host"),
            verify_seconds=float(vs) if isinstance(vs, int | float) else None, format=fmt,
            extra={str(k): v for k, v in obj.items() if k not in known},
        )


@dataclass
class FaultOutcome:
    """One application of a fault as verify judged it (an entry of result.json ``faults``):
    its window, when its recovery counted from and ended, and when it was detected. The
    evidence objects and the ``during``/``after`` request figures are the checkers' own.
    Fields missing from an older result.json read as unknown (None)."""

    fault: int
    repeat: int | None
    name: str
    action: str
    params: Mapping[str, object]
    ok: bool
    error: str | None
    applied_s: float | None
    removed_s: float | None
    rolled_back: bool
    recovery_from: str | None
    recovery_from_s: float | None
    recovered_s: float | None
    recovery_s: float | None
    #: None when an older result.json does not say
    recovered: bool | None
    recovery_evidence: Mapping[str, object]
    detect_s: float | None
    detected: bool | None
    detect_evidence: Mapping[str, object]
    during: Mapping[str, object] | None = None
    after: Mapping[str, object] | None = None

    @property
    def at_least_s(self) -> float | None:
        """A recovery cut short by the next fault took at least this long (not a value)."""
        value = self.recovery_evidence.get("at_least_s")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
            else None

    def to_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, obj: Mapping[str, object], what: str = "result.json faults") -> FaultOutcome:
        def number(key: str) -> float | None:
            value = obj.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
                else None

        def section(key: str) -> dict[str, object]:
            value = obj.get(key)
            return dict(value) if isinstance(value, dict) else {}

        fault, repeat = obj.get("fault"), obj.get("repeat")
        during, after = obj.get("during"), obj.get("after")
        return cls(
            fault=fault if isinstance(fault, int) and not isinstance(fault, bool) else -1,
            repeat=repeat if isinstance(repeat, int) and not isinstance(repeat, bool) else None,
            name=str(obj.get("name") or ""), action=str(obj.get("action") or ""),
            params=section("params"), ok=obj.get("ok", True) is not False,
            error=opt_str(obj, "error", what), applied_s=number("applied_s"),
            removed_s=number("removed_s"), rolled_back=bool(obj.get("rolled_back")),
            recovery_from=opt_str(obj, "recovery_from", what),
            recovery_from_s=number("recovery_from_s"), recovered_s=number("recovered_s"),
            recovery_s=number("recovery_s"), recovered=opt_bool(obj, "recovered", what),
            recovery_evidence=section("recovery_evidence"), detect_s=number("detect_s"),
            detected=opt_bool(obj, "detected", what), detect_evidence=section("detect_evidence"),
            during=dict(during) if isinstance(during, dict) else None,
            after=dict(after) if isinstance(after, dict) else None,
        )


#: The fields of ``writes`` written only when set.
_OPTIONAL_WRITES = frozenset({"duplicate_rows", "final_read", "online_violation", "lost_attempts"})


@dataclass
class WriteAccounting:
    """result.json ``writes``: every attempted key classed against the final read.

    Without a final read the classes that need it are None and the verdict ``unknown``
    (``reason`` says why). ``unrecorded`` is set only when a load worker was lost;
    ``online_violation`` only when the online checker stopped the run; ``lost_attempts``
    only when a key was lost (every recorded attempt of the first ones)."""

    attempted: int
    acknowledged: int
    failed: int
    read: int | None
    lost: int | None
    unexpected: int | None
    duplicated: int | None
    phantom: int | None
    recovered: int | None
    indeterminate: int | None
    verdict: str
    reason: str | None
    #: The first keys of each class (``lost``, ``duplicated``, ...).
    examples: dict[str, list[str]]
    unrecorded: int | None = None
    duplicate_rows: dict[str, int] | None = None
    #: When the final read ran, how many reads, whether they agreed, its SQL.
    final_read: dict[str, object] | None = None
    online_violation: dict[str, object] | None = None
    lost_attempts: dict[str, list[dict[str, object]]] | None = None


    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "unrecorded":
                continue
            if f.name == "verdict" and self.unrecorded is not None:
                out["unrecorded"] = self.unrecorded
            if f.name in _OPTIONAL_WRITES and value is None:
                continue
            out[f.name] = value
        return out

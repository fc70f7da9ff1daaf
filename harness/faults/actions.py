"""The implementation of every fault in :mod:`harness.faults.catalog`.

Each action is one function ``apply(env, fault, params) -> Applied``; ``Applied.undo``
removes the fault (``None`` for an instant action whose effect ends by itself).
:data:`ACTIONS` maps catalogue names to these functions; a test checks that the two
cover the same names, so a new fault is one catalogue entry plus one function here.
Errors raised here (and by :mod:`harness.faults.postgres`, unwrapped) are recorded by the
timeline as a fault that failed to apply, with their own type and message.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.clock import wall
from harness.errors import FaultError
from harness.faults import postgres as pgf
from harness.faults.catalog import TOXIC_FIELDS
from harness.redact import write_private
from harness.scenario.schema import Fault

if TYPE_CHECKING:
    from harness.faults.network import ProxyClient
    from harness.provision.app import AppTarget

__all__ = ["ACTIONS", "Action", "Applied", "FaultEnv", "Undo"]

Undo = Callable[[], dict[str, object]]


@dataclass
class FaultEnv:
    """What fault actions act on."""

    pg: pgf.PostgresTarget
    app: AppTarget | None
    proxy: ProxyClient | None
    admin_token: str = ""
    #: The run directory: where a fault that changes what outlives the run (a schema drift)
    #: first writes how to undo it by hand (``rollback.sql``).
    run_dir: Path | None = None


@dataclass
class Applied:
    """An applied fault: what happened, and how to remove it."""

    detail: dict[str, object] = field(default_factory=dict)
    undo: Undo | None = None


def _need_app(env: FaultEnv, action: str) -> AppTarget:
    if env.app is None:
        raise FaultError(f"{action}: there is no app target")
    return env.app


def _need_proxy(env: FaultEnv, action: str) -> ProxyClient:
    if env.proxy is None:
        raise FaultError(f"{action}: there is no fault proxy in this run")
    return env.proxy


# -- network ------------------------------------------------------------------------


def _toxic(kind: str) -> Callable[[FaultEnv, Fault, Mapping[str, Any]], Applied]:
    def apply(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
        proxy = _need_proxy(env, f"network.{kind}")
        name = f"fault{fault.index}_{kind}_{params['stream']}_{time.monotonic_ns() % 10**9}"
        attributes = {k: v for k, v in params.items() if k not in TOXIC_FIELDS}
        toxic = proxy.add_toxic(params["proxy"], type=kind, name=name, stream=params["stream"],
                                toxicity=float(params["toxicity"]), attributes=attributes)

        def undo() -> dict[str, object]:
            proxy.remove_toxic(params["proxy"], name)
            return {"toxic": name}

        return Applied({"toxic": toxic}, undo)

    return apply


def _network_down(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    proxy = _need_proxy(env, "network.down")
    proxy.disable(params["proxy"])

    def undo() -> dict[str, object]:
        proxy.enable(params["proxy"])
        return {}

    return Applied({"proxy": params["proxy"]}, undo)


# -- postgres -----------------------------------------------------------------------


def _pg_stop(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    detail = pgf.stop(env.pg, params["mode"])
    return Applied(detail, lambda: pgf.start(env.pg))


def _pg_crash(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    pgf.crash(env.pg)
    if fault.for_ is None:
        return Applied(pgf.start(env.pg))
    return Applied({}, lambda: pgf.start(env.pg))


def _pg_restart(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    return Applied(pgf.restart(env.pg, params["mode"]))


def _pg_freeze(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    detail = pgf.freeze(env.pg)
    return Applied(detail, lambda: pgf.thaw(env.pg))


def _pg_exhaust(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    detail, holder = pgf.exhaust_connections(env.pg, params.get("count"),
                                             params.get("leave") or 0)

    def undo() -> dict[str, object]:
        holder.release()
        return {"released": detail.get("held", 0)}

    return Applied(detail, undo)


def _pg_max_connections(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    before, after = pgf.set_max_connections(env.pg, int(params["value"]))

    def undo() -> dict[str, object]:
        was, now = pgf.set_max_connections(env.pg, before)
        return {"before": was, "after": now}

    return Applied({"before": before, "after": after}, undo)


def _pg_terminate(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    return Applied(pgf.terminate_backends(env.pg, params["application"]))


def _rollback_note(env: FaultEnv, text: str) -> None:
    if env.run_dir is not None:
        write_private(env.run_dir / "rollback.sql", text, append=True)


def _pg_drift(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    table, column, new = params["table"], params["column"], params["new_name"]
    # written before the drift: a harness killed while it is in place leaves the way back
    _rollback_note(env, f"-- fault {fault.index} postgres.drift_schema, applying at {wall()}; "
                        "if the harness did not revert it, run:\n"
                        f"{pgf.drift_rollback_sql(table, column, new)}\n")
    detail = pgf.drift_schema(env.pg, table, column, new)

    def undo() -> dict[str, object]:
        reverted = pgf.drift_schema(env.pg, table, new, column)
        _rollback_note(env, f"-- fault {fault.index}: reverted by the harness at {wall()}\n")
        return reverted

    return Applied(detail, undo)


# -- the app process ----------------------------------------------------------------


def _app_down_and_up(signal_name: str) -> Callable[[FaultEnv, Fault, Mapping[str, Any]], Applied]:
    def apply(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
        app = _need_app(env, f"app.{signal_name}")
        code = app.kill() if signal_name == "kill" else app.terminate()
        time.sleep(float(params["restart_after"]))
        up_s = app.restart(wait_ready=False)
        return Applied({"exit_code": code, "live_after_s": round(up_s, 3)})

    return apply


def _app_freeze(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    app = _need_app(env, "app.freeze")
    pids = app.freeze()
    return Applied({"pids": pids}, lambda: {"pids": app.thaw()})


@dataclass(frozen=True)
class _HookReply:
    """A chaos hook's answer: its HTTP status and the first 500 characters of its body."""

    status: int
    body: str

    def to_json(self) -> dict[str, object]:
        return {"status": self.status, "body": self.body}


def _chaos_post(env: FaultEnv, path: str, body: dict[str, object]) -> _HookReply:
    app = _need_app(env, path)
    request = urllib.request.Request(
        app.url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {env.admin_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5.0) as resp:  # noqa: S310 - loopback only
            text = resp.read().decode("utf-8", "replace")
            return _HookReply(resp.status, text[:500])
    except urllib.error.HTTPError as exc:
        return _HookReply(exc.code, exc.read().decode("utf-8", "replace")[:500])
    except (urllib.error.URLError, OSError) as exc:
        raise FaultError(f"{path}: the app did not answer ({exc})") from exc


def _app_raise(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    statuses: dict[str, int] = {}
    for _ in range(int(params["count"])):
        reply = _chaos_post(env, f"/api/chaos/raise/{params['where']}", {})
        key = str(reply.status)
        statuses[key] = statuses.get(key, 0) + 1
    if any(s in statuses for s in ("401", "403", "404")):
        raise FaultError(f"app.raise: the chaos hook refused ({statuses}); "
                         "is the app started with --chaos-hooks and the admin token?")
    return Applied({"statuses": statuses})


def _app_flood(env: FaultEnv, fault: Fault, params: Mapping[str, Any]) -> Applied:
    reply = _chaos_post(env, "/api/chaos/flood_tasks", {"count": int(params["count"])})
    if reply.status >= 400 and reply.status != 503:
        raise FaultError(f"app.flood_tasks: the chaos hook answered {reply.status}: {reply.body}")
    return Applied(reply.to_json())


Action = Callable[[FaultEnv, Fault, Mapping[str, Any]], Applied]

ACTIONS: dict[str, Action] = {
    "network.latency": _toxic("latency"),
    "network.bandwidth": _toxic("bandwidth"),
    "network.slow_close": _toxic("slow_close"),
    "network.timeout": _toxic("timeout"),
    "network.reset_peer": _toxic("reset_peer"),
    "network.slicer": _toxic("slicer"),
    "network.limit_data": _toxic("limit_data"),
    "network.down": _network_down,
    "postgres.stop": _pg_stop,
    "postgres.crash": _pg_crash,
    "postgres.restart": _pg_restart,
    "postgres.freeze": _pg_freeze,
    "postgres.exhaust_connections": _pg_exhaust,
    "postgres.set_max_connections": _pg_max_connections,
    "postgres.terminate_backends": _pg_terminate,
    "postgres.drift_schema": _pg_drift,
    "app.kill": _app_down_and_up("kill"),
    "app.term": _app_down_and_up("term"),
    "app.freeze": _app_freeze,
    "app.raise": _app_raise,
    "app.flood_tasks": _app_flood,
}

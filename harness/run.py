"""One run: provision -> load + fault timeline + observe -> drain -> collect -> verify -> report.

:func:`run_scenario` is the conductor. It owns every process of the run through
one :class:`~harness.provision.process.Supervisor` and tears everything down on
every path: normal end, failure, Ctrl-C (the first one stops the run cleanly and
leaves a consistent run directory marked ``incomplete``; a second one forces) and
SIGTERM (:mod:`harness.stop`). Wind-down order, each step in a ``finally`` of the one
before: the fault timeline is stopped (no fault fires after it) and everything it applied
is undone (shielded from a second Ctrl-C, which waits for it), then the load is stopped,
then the final read, then the observer; the stack is torn down last. An unexpected
exception still ends run.json as ``failed`` with the error (exit 2).

Time: the run's zero (``t0``) is taken when provisioning is done; the scenario's
clock (fault ``at``) starts when the load starts (the ``load_start`` event).

Secrets (the DSN's password, secret ``[target.env]`` values, the admin token) are
registered with :mod:`harness.redact` before anything is written, and every writer of the
run directory and every console message redacts them at the source; the run directory
is readable by its owner only. The scenario in memory keeps them for the run, while its
``scenario.toml`` holds ``***`` (a replay fills them in from the environment:
:mod:`harness.scenario.secrets`). With a proxy given by URL (one that outlives runs) the
run deletes its proxies by name before creating them and again at its end; a conductor
SIGKILLed in between leaves that to its watchdog, which deletes them (their toxics with them).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import exitcodes
from harness.clock import wall
from harness.collect import final_read
from harness.errors import HarnessError, ProvisionError
from harness.faults.actions import FaultEnv
from harness.faults.network import ProxyApiError
from harness.faults.timeline import Timeline, TimelineLog
from harness.load.command import (
    locust_argv,
    locust_env,
    merge_request_files,
    remove_request_files,
)
from harness.load.config import LoadRunConfig
from harness.load.remote import parse_hostport
from harness.load.shipped import check_shippable
from harness.load.workers import WorkerRelay
from harness.observe import Observer, ObserveTargets
from harness.progress import Progress
from harness.provision.app import AppSpec, AppTarget
from harness.provision.app_role import create_app_role
from harness.provision.dependencies import (
    RunningDependency,
    create_fresh_proxy,
    start_dependencies,
)
from harness.provision.pg_external import DsnPostgres
from harness.provision.ports import free_port
from harness.provision.postgres import PASSWORD_ENV, EmbeddedPostgres
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.proxy import RunningProxy, start_proxy
from harness.records import RunInfo
from harness.records.run_info import AppExit
from harness.redact import redact, register_environ, register_secret, write_private
from harness.requests_file import REQUESTS_GZ
from harness.rundir import RunRecord, host_facts, new_run_dir, versions
from harness.scenario.loader import load_scenario
from harness.scenario.schema import Scenario
from harness.scenario.secrets import restore_secrets, scenario_secrets
from harness.scenario.writer import scenario_to_toml
from harness.stop import StopRequest
from harness.verify.online import OnlineWriteChecker

__all__ = ["RunOutcome", "StopRequest", "run_scenario"]

DEFAULT_REPORTS = Path("reports")
ROLLBACK_BOUND_S = 60.0
"""How long a second Ctrl-C waits for the fault rollback before it forces regardless."""
FORCED_STOP_S = 2.0
"""How long a forced stop lets Locust drain before it is killed."""


@dataclass
class RunOutcome:
    """What a run left: its directory, the exit code it deserves, and its verdicts."""

    run_dir: Path
    exit_code: int
    result: dict[str, Any] | None
    status: str = "complete"
    error: str | None = None


@dataclass
class _Stack:
    """The provisioned pieces of one run."""

    pg: EmbeddedPostgres | DsnPostgres
    proxy: RunningProxy
    app: AppTarget
    app_dsn: str
    admin_token: str
    dependencies: list[RunningDependency]


def _provision_postgres(scenario: Scenario, sup: Supervisor) -> EmbeddedPostgres | DsnPostgres:
    spec = scenario.postgres
    if spec.provider == "dsn":
        pg: EmbeddedPostgres | DsnPostgres = DsnPostgres(spec.dsn)
        pg.start()
        return pg
    embedded = EmbeddedPostgres(supervisor=sup, fsync=spec.fsync, max_connections=spec.max_connections,
                                password=os.environ.get(PASSWORD_ENV))
    try:
        embedded.init()
        embedded.start()
    except BaseException:
        embedded.destroy()
        raise
    return embedded


def _proxied_dsn(pg_dsn: str, listen: str) -> str:
    """The DSN the app uses: the same database and user, through the proxy's listen address."""
    scheme, rest = pg_dsn.split("://", 1)
    creds, hostpart = rest.rsplit("@", 1) if "@" in rest else ("", rest)
    database = hostpart.split("/", 1)[1] if "/" in hostpart else "postgres"
    host, port = listen.rsplit(":", 1)
    query = "" if "sslmode=" in database else ("&" if "?" in database else "?") + "sslmode=disable"
    # loopback to a proxy: no TLS, so a connect is one round trip and not an SSL negotiation
    return f"{scheme}://{creds + '@' if creds else ''}{host}:{port}/{database}{query}"


def _pg_hostport(pg_dsn: str) -> str:
    hostpart = pg_dsn.split("://", 1)[1].rsplit("@", 1)[-1]
    return hostpart.split("/", 1)[0]


def _migrate_to(scenario: Scenario, dsn: str, sup: Supervisor) -> None:
    """Put the database at an older migration before the app starts (schema-drift scenarios)."""
    target = scenario.target.migrate_to
    if not target:
        return
    argv = [sys.executable, "-m", "reference_impl", "migrate", "up", "--target", target]
    # the DSN (with its password) by environment: a command line is readable by every user
    child = sup.spawn("migrate", argv, env={**os.environ, "DATABASE_URL": dsn})
    code = child.wait(120.0)
    sup.reap(child)
    if code != 0:
        raise ProvisionError(f"migrating the database to {target} failed", command=argv,
                             exit_code=code, output_tail=child.log_tail())


def _child_env(t0: float) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "CHAOSHARNESS_T0_MONOTONIC": repr(t0)}


@dataclass
class _Held:
    """What teardown must undo even when provisioning stops half-way."""

    pg: list[EmbeddedPostgres | DsnPostgres]
    proxy: RunningProxy | None = None
    proxy_names: list[str] | None = None


def _provision(scenario: Scenario, sup: Supervisor, held: _Held) -> _Stack:
    pg = _provision_postgres(scenario, sup)
    held.pg.append(pg)  # so teardown destroys it even when a later step fails
    proxy = start_proxy(sup, scenario.proxy.kind, scenario.proxy.url, scenario.proxy.path)
    held.proxy, held.proxy_names = proxy, []
    # a proxy server given by URL outlives runs: a killed earlier run left its proxies there
    # (409 on create, its toxics still on): ours are deleted by name, then created afresh
    replace = proxy.kind == "url"
    # and should this process be SIGKILLed, its watchdog deletes them (toxics and all)
    watch = (lambda name: sup.delete_proxy_on_crash(proxy.url, name)) if replace else None
    created = create_fresh_proxy(proxy.client, "postgres", listen=scenario.postgres.listen,
                                 upstream=_pg_hostport(pg.dsn), replace=replace,
                                 created=held.proxy_names, watch=watch)
    # the service connects as a role of its own on a Postgres the harness provisioned
    direct_dsn = create_app_role(pg.dsn) if isinstance(pg, EmbeddedPostgres) else pg.dsn
    app_dsn = _proxied_dsn(direct_dsn, str(created["listen"]))
    deps = start_dependencies(scenario.dependencies, sup, proxy.client, replace=replace,
                              created=held.proxy_names, watch=watch)
    addresses = {"postgres": str(created["listen"]), **{d.name: d.listen for d in deps}}
    _migrate_to(scenario, direct_dsn, sup)
    token = secrets.token_urlsafe(24)
    register_secret(token)
    t = scenario.target
    spec = AppSpec(kind=t.kind, dsn=app_dsn, profile=t.profile, chaos_hooks=t.chaos_hooks,
                   auto_migrate=t.auto_migrate, admin_token=token, env=dict(t.env),
                   command=t.command, url=t.url, ready_path=t.ready_path,
                   live_path=t.health_path, dsn_env=t.dsn_env, workdir=t.workdir,
                   addresses=addresses, listen_host=t.listen_host)
    app = AppTarget(spec, sup, {**os.environ, "PYTHONUNBUFFERED": "1"})
    app.start(wait_ready=True)
    return _Stack(pg, proxy, app, app_dsn, token, deps)


def _write_load_config(scenario: Scenario, run_dir: Path, t0: float) -> Path:
    requests_dir = run_dir / "requests"
    requests_dir.mkdir(exist_ok=True)
    config = LoadRunConfig.from_scenario(scenario, requests_dir=requests_dir, t0_monotonic=t0)
    return config.write(run_dir / "load.json")


def _master_bind(scenario: Scenario) -> tuple[str, int] | None:
    """Where the load's master listens for workers on other hosts (a free port for port 0)."""
    if not scenario.load.expect_workers:
        return None
    host, port = parse_hostport(scenario.load.master_bind)
    return host, port or free_port(host)


def _start_locust(scenario: Scenario, sup: Supervisor, run_dir: Path, host: str, t0: float,
                  master: tuple[str, int] | None = None) -> ChildProcess:
    config_path = _write_load_config(scenario, run_dir, t0)
    load = scenario.load
    drain_s = load.request_timeout * (load.write_retries + 1)  # a write and its retries finish
    argv = locust_argv(config_path, host, workers=load.workers, users=load.users,
                       spawn_rate=load.spawn_rate, run_time_s=scenario.duration,
                       locustfile=scenario.target.locustfile or None, stop_timeout_s=drain_s,
                       expect_workers=load.expect_workers, master_bind=master,
                       # the conductor gives up first, and says how many came
                       expect_workers_timeout_s=load.expect_workers_timeout + 10.0)
    env = {**_child_env(t0), **locust_env(config_path)}
    return sup.spawn("locust", argv, env=env, stop_signal=signal.SIGINT,
                     stop_timeout=drain_s + 10.0)


def _observer(scenario: Scenario, stack: _Stack, run_dir: Path, t0: float) -> Observer:
    app = stack.app
    pg = stack.pg
    targets = ObserveTargets(
        app_url=app.url, app_pid=lambda: app.pid, pg_pid=lambda: pg.pid, pg_dsn=pg.dsn,
        admin_token=stack.admin_token, app_log=lambda: app.log_path,
        # the app's connections are the ones the proxy opened to Postgres (not a name it sets)
        proxy_pid=lambda: stack.proxy.pid, proxy_upstream=_pg_hostport(pg.dsn),
        # tracemalloc costs the app ~3x in CPU: memory diffs only where the scenario asks for them
        chaos_hooks=(scenario.target.chaos_hooks and scenario.target.kind == "reference"
                     and scenario.observe.tracemalloc),
        live_path=scenario.target.health_path, ready_path=scenario.target.ready_path,
        stats_path=scenario.target.stats_path,
        unhandled_error_patterns=scenario.target.unhandled_error_patterns,
    )
    return Observer(run_dir, targets, tick_s=scenario.observe.tick,
                    memory_every_s=scenario.observe.memory_every, t0_monotonic=t0)


class _Conductor:
    """The body of one run, split into steps that each stay small."""

    def __init__(self, scenario: Scenario, run_dir: Path, record: RunRecord, stop: StopRequest,
                 quiet: bool) -> None:
        self.scenario = scenario
        self.run_dir = run_dir
        self.record = record
        self.stop = stop
        self.quiet = quiet
        self.t0 = time.monotonic()
        self.log = TimelineLog(run_dir / "timeline.jsonl", self.t0)
        self.held = _Held(pg=[])
        self.pg = self.held.pg
        self.load_counts: dict[str, int] = {}
        self.timeline: Timeline | None = None
        self.relay = WorkerRelay(run_dir / "requests", self.log)

    def provision(self, sup: Supervisor) -> _Stack:
        s = self.scenario  # workers on other hosts get the locustfile alone: refuse it now
        check_shippable(s.target.locustfile, s.load.expect_workers, str(s.source or s.name))
        stack = _provision(self.scenario, sup, self.held)
        self.t0 = time.monotonic()  # the run's zero: everything is up
        self.log = TimelineLog(self.run_dir / "timeline.jsonl", self.t0)
        t = self.scenario.target
        probes = {"live": t.health_path or None, "ready": t.ready_path or None,
                  "stats": t.stats_path or None}
        info = self.record.info
        info.t0_monotonic = self.t0
        info.app = {"url": stack.app.url, "pid": stack.app.pid, "kind": t.kind, "probes": probes}
        info.postgres = {"provider": stack.pg.provider,
                         "version": getattr(stack.pg, "version", "")}
        info.proxy = {"kind": stack.proxy.kind, "url": stack.proxy.url}
        info.dependencies = [d.to_json() for d in stack.dependencies]
        self.record.save()
        return stack

    def drive(self, sup: Supervisor, stack: _Stack) -> str:
        """Load + faults + samplers until the duration is over or a stop is asked; returns the status."""
        s = self.scenario
        self.log.mark("run_start")
        observer = _observer(s, stack, self.run_dir, self.t0)
        observer.start()
        locust: ChildProcess | None = None
        online: OnlineWriteChecker | None = None
        status = "incomplete"
        try:
            env = FaultEnv(pg=stack.pg, app=stack.app, proxy=stack.proxy.client,
                           admin_token=stack.admin_token, run_dir=self.run_dir)
            master = _master_bind(s)
            locust = _start_locust(s, sup, self.run_dir, stack.app.url, self.t0, master)
            self.relay = WorkerRelay(self.run_dir / "requests", self.log)
            if master is not None:
                self._await_workers(locust, master, observer)
            load_start = self.log.mark("load_start").t_s
            self.timeline = Timeline(s.faults, env, self.log, start_offset=load_start)
            self.timeline.start()
            online = self._online_checker(stack)
            status = self._wait_for_load(locust, self.timeline, observer, load_start, online)
        finally:
            try:
                self._wind_down(sup, locust, online)
                self._final_read(stack)
            finally:
                try:
                    merge_request_files(self.run_dir / "requests", self.run_dir / REQUESTS_GZ,
                                        counts=self.load_counts)
                    remove_request_files(self.run_dir / "requests")  # all in requests.csv.gz now
                finally:
                    observer.stop(timeout_s=15)
                    self.record.info.observer = dict(observer.summary())
                    self.record.save()
        if status == "complete":
            self._check_load_recorded()
        return status

    def rollback_faults(self) -> None:
        """Stop the fault timeline and undo what it applied; a second Ctrl-C waits for it
        (bounded) and is raised afterwards. Harmless when already done or never started."""
        if self.timeline is None:
            return
        with self.stop.shielded(ROLLBACK_BOUND_S):
            self.timeline.rollback(timeout=ROLLBACK_BOUND_S / 2)

    def _await_workers(self, locust: ChildProcess, master: tuple[str, int],
                       observer: Observer) -> None:
        """Hold the load's start until every expected remote worker joined; else exit 2."""
        load = self.scenario.load
        where = f"{master[0]}:{master[1]}"
        self.record.info.load = {"expect_workers": load.expect_workers, "master": where}
        self.record.save()
        print(f"chaosharness: waiting for {load.expect_workers} load worker(s); on each host run: "
              f"chaosharness load-worker --master {where}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + load.expect_workers_timeout
        while len(self.relay.poll().joined) < load.expect_workers:
            if not locust.alive or time.monotonic() >= deadline or self.stop.event.wait(0.2):
                observer.stop(timeout_s=5)
                came = len(self.relay.joined)
                why = "the load's master exited" if not locust.alive else (
                    "interrupted" if self.stop.event.is_set() else
                    f"within {load.expect_workers_timeout:g} s")
                raise HarnessError(
                    f"expected {load.expect_workers} load worker(s) at {where}, {came} joined "
                    f"({why}); start `chaosharness load-worker --master {where}` on each host "
                    "and check that the port is reachable from there")

    def _check_load_recorded(self) -> None:
        """A load that recorded nothing, or no write key while the scenario judges writes,
        cannot be judged: an error that says what to do, never a verdict."""
        where = f"the locustfile {self.scenario.target.locustfile}" if \
            self.scenario.target.locustfile else "the load"
        if not self.load_counts.get("rows"):
            raise HarnessError(f"{where} recorded no request: a locustfile must send through "
                               "harness.load.client.ChaosUser (docs/your-service.md)")
        judges_writes = any(slo.metric.endswith("_writes") for slo in self.scenario.slos)
        if judges_writes and not self.load_counts.get("writes"):
            raise HarnessError(f"{where} recorded no write key, yet the scenario judges writes "
                               "(lost_writes, ...): send writes with ChaosUser.write(key=...), or "
                               "give a declared request a write_key")

    def _online_checker(self, stack: _Stack) -> OnlineWriteChecker | None:
        """The opt-in online data-safety check: stops the run at the first lost write."""
        if not self.scenario.verify.abort_on_lost_write:
            return None
        checker = OnlineWriteChecker(
            stack.pg.dsn, self.scenario.verify.writes_sql, self.run_dir / "requests", self.t0,
            on_violation=self._record_violation,
        )
        checker.start()
        return checker

    def _record_violation(self, violation: dict[str, Any]) -> None:
        self.log.mark("online_violation", **violation)

    def _wait_for_load(self, locust: ChildProcess, timeline: Timeline, observer: Observer,
                       load_start: float, online: OnlineWriteChecker | None) -> str:
        s = self.scenario
        progress = Progress(s.name, s.duration, self.run_dir / "requests")
        baseline_taken = False
        end = self.t0 + load_start + s.duration + 30.0  # Locust stops itself at the duration
        last = time.monotonic()
        while locust.alive and time.monotonic() < end:
            if self.stop.event.wait(1.0):
                return "incomplete"
            self.relay.poll()
            if online is not None and online.violation is not None:
                self.record.info.aborted = {"reason": "lost write", **online.violation}
                self.record.save()
                break  # the run is judged as it stands: the lost write is the verdict
            now = time.monotonic()
            elapsed = now - self.t0 - load_start
            if not self.quiet:
                progress.tick(elapsed, now - last, timeline.active)
            last = now
            if not baseline_taken and elapsed >= s.warmup:
                observer.baseline_memory()
                baseline_taken = True
        if not self.quiet:
            progress.done()
        return "complete"

    def _wind_down(self, sup: Supervisor, locust: ChildProcess | None,
                   online: OnlineWriteChecker | None) -> None:
        """Faults first (none fires once this begins; each undone), then the load."""
        try:
            self.rollback_faults()
        finally:
            try:
                if online is not None:
                    online.stop()
            finally:
                if locust is not None:
                    self._stop_load(sup, locust)

    def _stop_load(self, sup: Supervisor, locust: ChildProcess) -> None:
        """Let Locust drain its requests; a forced stop (second Ctrl-C) cuts the drain short."""
        try:
            if locust.alive:
                sup.stop(locust, timeout=FORCED_STOP_S if self.stop.forced else None)
            else:
                sup.reap(locust)
        except KeyboardInterrupt:  # forced while Locust drained: end it now, then go on forcing
            with self.stop.shielded(FORCED_STOP_S + 15.0):
                sup.stop(locust, timeout=FORCED_STOP_S)
            raise
        finally:
            self.relay.poll()  # the last rows and worker events the load's master relayed
            self.record.info.load = {**self.record.info.load, "workers": self.relay.summary()}
            self.record.save()
            self.log.mark("load_stop", locust_exit=locust.returncode)

    def _final_read(self, stack: _Stack) -> None:
        deadline = time.monotonic() + self.scenario.cooldown
        while time.monotonic() < deadline and not self.stop.forced:
            time.sleep(0.1)
        if stack.pg.pid is None and stack.pg.provider == "embedded":
            with contextlib.suppress(HarnessError):
                stack.pg.start()  # a fault left it down: the final read needs it
            self.log.mark("postgres_ready", cause="collect")
        final_read(stack.pg.dsn, self.scenario.verify.writes_sql, self.run_dir / "final_read.json", self.t0)


def _app_exits(app: AppTarget, t0: float) -> list[dict[str, object]]:
    return [AppExit(round(e.t_monotonic - t0, 6), e.returncode, e.signal, e.cause).to_json()
            for e in app.exits]


def _judge(run_dir: Path, secrets_: tuple[str, ...]) -> tuple[dict[str, Any] | None, int]:
    from harness.report import render_run
    from harness.verify import exit_code_for, verify_run

    result = verify_run(run_dir)
    render_run(run_dir, secrets=secrets_)
    return result, exit_code_for(result)


def run_scenario(
    path: Path | str,
    overrides: Mapping[str, object] | None = None,
    *,
    reports_dir: Path = DEFAULT_REPORTS,
    replay_of: Path | None = None,
    quiet: bool = False,
    stop: StopRequest | None = None,
) -> RunOutcome:
    """Carry out one scenario and judge it. Never raises for a run that could not be carried out:
    the outcome says so with exit code 2 and the run directory records why. ``stop`` is the
    caller's :class:`StopRequest` (a suite's, so a Ctrl-C also ends the suite); else its own."""
    # a recorded scenario.toml holds *** for its secrets: the environment fills them in
    scenario = restore_secrets(load_scenario(path, overrides), os.environ, str(path))
    register_environ()
    for value in scenario_secrets(scenario):
        register_secret(value)
    run_dir = new_run_dir(Path(reports_dir), scenario.name)
    write_private(run_dir / "scenario.toml", redact(scenario_to_toml(scenario)))
    record = RunRecord(run_dir / "run.json", RunInfo(
        scenario=scenario.name, run_id=run_dir.name, status="running", error=None,
        started_wall=wall(), duration_s=scenario.duration, warmup_s=scenario.warmup,
        seed=scenario.seed, profile=scenario.target.label,
        command=" ".join(shlex.quote(a) for a in sys.argv) if sys.argv else "",
        replay_of=str(replay_of) if replay_of else None,
        versions=versions(), host=host_facts(),
    ))
    record.save()
    stop = stop or StopRequest()
    conductor = _Conductor(scenario, run_dir, record, stop, quiet)
    status, error, token = "failed", None, ""
    with stop.installed():
        try:
            status, token = _carry_out(conductor, run_dir)
        except (HarnessError, OSError) as exc:
            error = redact(str(exc))
        except KeyboardInterrupt:
            status, error = "incomplete", "interrupted"
        except Exception as exc:  # noqa: BLE001 - a bug still ends the run as failed, not running
            error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        if status == "incomplete" and stop.signal_name and error is None:
            error = f"stopped by {stop.signal_name}"
        record.info.status, record.info.error, record.info.ended_wall = status, error, wall()
        record.save()
        with contextlib.suppress(OSError):
            conductor.log.mark("run_end", status=status)
    if status == "failed":
        print(f"chaosharness: the run could not be carried out: {redact(str(error))}",
              file=sys.stderr)
        return RunOutcome(run_dir, exitcodes.COULD_NOT_RUN, None, status, error)
    try:
        result, code = _judge(run_dir, (token,))
    except HarnessError:
        if status == "complete":
            raise
        result, code = None, exitcodes.COULD_NOT_RUN  # a stopped run may hold too little to judge
    if status != "complete":
        code = exitcodes.COULD_NOT_RUN
    return RunOutcome(run_dir, code, result, status, error)


def _carry_out(conductor: _Conductor, run_dir: Path) -> tuple[str, str]:
    with Supervisor(run_dir / "logs") as sup:
        stack: _Stack | None = None
        try:
            stack = conductor.provision(sup)
            conductor.record.info.versions = versions(getattr(stack.pg, "version", ""))
            conductor.record.save()
            if conductor.stop.event.is_set():  # stopped while provisioning: start no load
                return "incomplete", stack.admin_token
            status = conductor.drive(sup, stack)
            return status, stack.admin_token
        finally:
            try:
                conductor.rollback_faults()  # done by drive on every path; here it costs nothing
            finally:
                _teardown(conductor, stack)


def _teardown(conductor: _Conductor, stack: _Stack | None) -> None:
    """Stop the app and destroy the embedded Postgres; one failing never skips the other."""
    try:
        if stack is not None:
            try:
                stack.app.stop("teardown")
            finally:
                info = conductor.record.info
                info.app = {**info.app, "restarts": stack.app.restarts,
                            "exits": _app_exits(stack.app, conductor.t0)}
                conductor.record.save()
    finally:
        _remove_proxies(conductor.held)
        for pg in conductor.pg:
            if isinstance(pg, EmbeddedPostgres):
                try:
                    pg.destroy()
                except (HarnessError, OSError) as exc:  # the supervisor still ends its process
                    print(f"chaosharness: destroying Postgres: {exc}", file=sys.stderr)


def _remove_proxies(held: _Held) -> None:
    """Delete this run's proxies from a proxy server given by URL (one the harness did not
    start, so they would outlive the run); a server the harness started ends with it."""
    if held.proxy is None or held.proxy.kind != "url":
        return
    for name in reversed(held.proxy_names or []):
        try:
            held.proxy.client.delete_proxy(name)
        except ProxyApiError as exc:
            if exc.status != 404:
                print(f"chaosharness: could not remove proxy {name!r} from {held.proxy.url}: "
                      f"{redact(str(exc))}", file=sys.stderr)


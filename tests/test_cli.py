"""The console script: exit codes and output of the commands that need no run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chaosharness") or str(ROOT / ".venv" / "bin" / "chaosharness")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_version_and_help() -> None:
    """--version prints the version; no command prints the help and exits 2."""
    out = _cli("--version")
    assert out.returncode == 0 and "chaosharness 0." in out.stdout
    bare = _cli()
    assert bare.returncode == 2 and "COMMAND" in bare.stdout


def test_list_names_scenarios_suites_faults_and_metrics() -> None:
    """`list` iterates the registries: every scenario file, suite, fault action and SLO metric."""
    out = _cli("list")
    assert out.returncode == 0, out.stderr
    for name in ("db-restart", "naive-db-freeze", "smoke", "nightly", "seed-metrics",
                 "postgres.freeze", "network.latency", "app.kill", "lost_writes", "availability"):
        assert name in out.stdout, name


def test_validate_reports_file_and_key(tmp_path: Path) -> None:
    """A wrong scenario gives exit 1 and a message naming the file, the key and the expectation."""
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nduration = "30s"\n[[fault]]\nat = "45s"\naction = "postgres.restart"\n')
    out = _cli("validate", str(bad), str(ROOT / "scenarios" / "db-restart.toml"))
    assert out.returncode == 1
    assert "bad.toml: fault[0].at" in out.stdout and "ok   " in out.stdout


def test_validate_checks_every_file_after_a_hostile_one(tmp_path: Path) -> None:
    """`validate a.toml bad.toml b.toml`: the hostile file in the middle (the issue's crashes:
    3,000-deep arrays, a 5,000-digit integer, a 400-digit one) is one FAIL line naming the
    file and the key, the files after it are still checked, and the exit code is 1."""
    good = (ROOT / "scenarios" / "db-restart.toml").read_text()
    hostile = {
        "deep": ("x = " + "[" * 3000 + "]" * 3000, "nested too deeply"),
        "digits": ("seed = " + "9" * 5000, "line 1: a number of 5000 digits"),
        "overflow": ('name = "o"\n[load]\nspawn_rate = ' + "9" * 400,
                     "load.spawn_rate: integer out of range"),
    }
    for name, (text, fragment) in hostile.items():
        a, bad, b = tmp_path / "a.toml", tmp_path / f"{name}.toml", tmp_path / "b.toml"
        a.write_text(good)
        bad.write_text(text)
        b.write_text(good.replace('name = "db-restart"', 'name = "b"'))
        out = _cli("validate", str(a), str(bad), str(b))
        assert out.returncode == 1, out.stdout + out.stderr
        assert "Traceback" not in out.stderr, out.stderr
        lines = out.stdout.splitlines()
        fails = [line for line in lines if line.startswith("FAIL")]
        assert fails == [line for line in lines if str(bad) in line], out.stdout
        assert len(fails) == 1 and fails[0].startswith(f"FAIL {bad}: ") and fragment in fails[0]
        assert lines[0].startswith(f"ok   {a}") and lines[-1].startswith(f"ok   {b}"), out.stdout


def test_validate_reports_a_harness_bug_as_one_fail_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Anything but a ScenarioError from the loader (a bug) is a FAIL line for that file, and
    validate goes on to the next one."""
    import argparse

    import harness.scenario.loader as loader
    from harness.cli_catalog import cmd_validate

    real = loader.load_scenario

    def flaky(path: Path, overrides: object = None) -> object:
        if path.name == "boom.toml":
            raise RuntimeError("x" * 10_000)
        return real(path)

    monkeypatch.setattr(loader, "load_scenario", flaky)
    boom = tmp_path / "boom.toml"
    boom.write_text("")
    code = cmd_validate(argparse.Namespace(files=[boom, ROOT / "scenarios" / "db-restart.toml"]))
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0].startswith(f"FAIL {boom}: the harness failed on this file") and len(out[0]) < 400
    assert out[1].startswith("ok   ")


def test_run_refuses_a_duration_too_short_to_measure_recovery(tmp_path: Path) -> None:
    """`run db-restart.toml --duration 20s` stops before provisioning anything: exit 2 and the
    smallest duration that works, instead of a run that fails on recovery_seconds = None."""
    out = _cli("run", str(ROOT / "scenarios" / "db-restart.toml"), "--duration", "20s",
               "--reports", str(tmp_path), "--quiet")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "the smallest duration that works is 25s" in out.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.integration
def test_postgres_check() -> None:
    """`postgres --check` starts an embedded server, runs select 1, stops, exits 0."""
    out = _cli("postgres", "--check")
    assert out.returncode == 0, out.stderr
    assert "select 1 -> 1" in out.stdout


def test_proxy_help_passes_through() -> None:
    """`proxy ARGS` is the embedded proxy's own command line."""
    out = _cli("proxy", "--help")
    assert out.returncode == 0 and "--populate-toxics" in out.stdout


def test_a_run_that_cannot_be_carried_out_exits_2(tmp_path: Path) -> None:
    """Postgres binaries missing: exit code 2, a message that says how to install them, and a run
    directory that records the failure."""
    exe = shutil.which("chaosharness") or str(ROOT / ".venv" / "bin" / "chaosharness")
    env = {**os.environ, "PG_BIN": str(tmp_path / "no-such-bin")}
    out = subprocess.run([exe, "run", str(ROOT / "tests" / "run" / "scenarios" / "short.toml"),
                          "--reports", str(tmp_path), "--quiet"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "apt-get install postgresql" in out.stderr
    run_json = next(tmp_path.glob("*-short/run.json"))
    assert '"status": "failed"' in run_json.read_text()


def test_validate_warns_about_a_recovery_slo_a_suite_leaves_unmeasured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A suite that shortens a negative control to 24 s: its recovery_seconds SLO (judged, not
    in expect_fail) cannot be measured then, which is a warning, not a FAIL; the shipped smoke
    suite runs its controls long enough and draws no warning."""
    import argparse

    from harness.cli_catalog import cmd_validate

    suites = tmp_path / "suites"
    suites.mkdir()
    suite = suites / "short.toml"
    suite.write_text(
        f'name = "short"\nscenarios = ["{ROOT / "scenarios" / "naive-db-restart.toml"}", '
        f'"{ROOT / "scenarios" / "naive-db-freeze.toml"}"]\n'
        '[overrides.naive-db-restart]\nduration = "24s"\n'
        '[overrides.naive-db-freeze]\nduration = "24s"\n')
    code = cmd_validate(argparse.Namespace(files=[suite, ROOT / "scenarios" / "suites" / "smoke.toml"]))
    out = capsys.readouterr().out
    assert code == 0, out
    warned = {(line.split(": ")[0], line.split(": ")[1]) for line in out.splitlines()
              if line.startswith("warn ")}
    assert warned == {(f"warn {suite}", "naive-db-restart"), (f"warn {suite}", "naive-db-freeze")}, out
    assert "the smallest duration that works is 25s" in out

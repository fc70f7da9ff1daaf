"""Pure parts of the load stage: config file, shapes' arithmetic, keys, argv, merge.

None of these import locust (it would gevent-patch the pytest process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.load.command import LOCUSTFILE, locust_argv, locust_env, merge_request_files
from harness.load.config import LoadRunConfig
from harness.load.keys import TaskPicker, WriteKeys, user_rng
from harness.load.plan import users_at
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
HEADER = "t_s,name,status,ok,latency_ms,error,write_key,ack,attempt\n"


def _config(**kw: object) -> LoadRunConfig:
    base: dict[str, object] = {"mix": {"post_message": 1}, "requests_dir": "/tmp/r",
                               "t0_monotonic": 1.0, "run_time_s": 60.0}
    return LoadRunConfig(**(base | kw))  # type: ignore[arg-type]


def test_config_round_trips_and_comes_from_scenarios(tmp_path: Path) -> None:
    """Every shipped scenario's [load] becomes a config that survives JSON unchanged."""
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        scenario = load_scenario(path)
        config = LoadRunConfig.from_scenario(scenario, requests_dir=tmp_path, t0_monotonic=5.0)
        assert config.run_time_s == scenario.duration and config.seed == scenario.seed
        assert LoadRunConfig.read(config.write(tmp_path / "c.json")) == config


def test_config_rejects_nonsense() -> None:
    """Unknown fields, an empty mix or a zero run time are ValueErrors that say which."""
    good = json.loads(_config().to_json())
    with pytest.raises(ValueError, match="unknown fields: bogus"):
        LoadRunConfig.from_json(json.dumps(good | {"bogus": 1}))
    with pytest.raises(ValueError, match="mix"):
        _config(mix={"post_message": 0})
    with pytest.raises(ValueError, match="run_time_s"):
        _config(run_time_s=0.0)
    with pytest.raises(ValueError, match="wait_ms"):
        _config(wait_ms=(9, 1))


def test_shapes() -> None:
    """Constant, ramp, step and spike ask for the documented users; None once over."""
    assert users_at(_config(users=7), 30) == 7 and users_at(_config(), 60.0) is None
    ramp = _config(users=10, shape="ramp", ramp_for_s=10.0)
    assert [users_at(ramp, t) for t in (0, 1, 5, 9.99, 10, 50)] == [1, 1, 5, 10, 10, 10]
    step = _config(users=10, shape="step", steps=9, step_users=10, step_every_s=5.0)
    assert [users_at(step, t) for t in (0, 4.9, 5, 44.9, 45, 59)] == [10, 10, 20, 90, 100, 100]
    spike = _config(users=5, shape="spike", spike_users=50, spike_at_s=10.0, spike_for_s=5.0)
    assert [users_at(spike, t) for t in (9.9, 10, 14.9, 15)] == [5, 50, 50, 5]


def test_keys_are_seeded_and_unique() -> None:
    """Same (seed, worker, user) -> same keys and choices; different users never collide."""
    a, b = WriteKeys(7, 0, 3), WriteKeys(7, 0, 3)
    keys = [a.next() for _ in range(100)]
    assert keys == [b.next() for _ in range(100)] and len(set(keys)) == 100
    others = {WriteKeys(7, w, u).next() for w in range(3) for u in range(30)}
    assert len(others) == 90
    mix = {"post_message": 5, "read_history": 3, "export": 0}
    one = TaskPicker(mix, user_rng(7, 0, 1))
    two = TaskPicker(mix, user_rng(7, 0, 1))
    picks = [one.next() for _ in range(2000)]
    assert picks == [two.next() for _ in range(2000)] and "export" not in picks
    assert 0.55 < picks.count("post_message") / len(picks) < 0.70  # weight 5/8
    assert user_rng(7, 0, 1).random() != user_rng(8, 0, 1).random()


def test_merge_window_is_bounded() -> None:
    """The reorder buffer holds only rows within the window of the newest (streaming)."""
    from harness.load.command import _reordered

    rows = ((float(t), [str(t)]) for t in range(100_000))
    first = next(_reordered(rows, window_s=10.0))
    assert first[0] == 0.0  # emitted long before the input ends


def test_locust_argv() -> None:
    """The harness' locustfile, headless, the config path, --processes only with workers."""
    argv = locust_argv("/r/load.json", "http://127.0.0.1:8000", workers=0, users=20,
                       spawn_rate=10, run_time_s=59.5)
    assert argv[:3] == [sys.executable, "-m", "locust"] and str(LOCUSTFILE) in argv
    assert argv[argv.index("--run-time") + 1] == "60s"
    assert argv[argv.index("--chaosharness-config") + 1] == "/r/load.json"
    assert "--processes" not in argv and "--headless" in argv
    multi = locust_argv("c", "h", workers=4, users=1, spawn_rate=1, run_time_s=1)
    assert multi[multi.index("--processes") + 1] == "4"
    theirs = locust_argv("c", "h", workers=0, users=1, spawn_rate=1, run_time_s=1,
                         locustfile="/their/locustfile.py")
    assert "--chaosharness-config" not in theirs and "/their/locustfile.py" in theirs
    assert locust_env("/r/load.json") == {"CHAOSHARNESS_LOAD_CONFIG": "/r/load.json"}
    with pytest.raises(ValueError, match="users >= 1"):
        locust_argv("c", "h", workers=0, users=0, spawn_rate=1, run_time_s=1)


def test_locust_master_binds_loopback_on_a_free_port() -> None:
    """With workers the master listens on 127.0.0.1 (never every interface) on a port of its
    own (never the fixed 5557), and the forked workers are told that port."""
    argv = locust_argv("c", "h", workers=2, users=1, spawn_rate=1, run_time_s=1)

    def opt(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert opt("--master-bind-host") == "127.0.0.1" and opt("--master-host") == "127.0.0.1"
    port = int(opt("--master-bind-port"))
    assert opt("--master-port") == str(port) and port != 5557 and 0 < port < 65536
    fixed = locust_argv("c", "h", workers=2, users=1, spawn_rate=1, run_time_s=1,
                        master_port=45123)
    assert fixed[fixed.index("--master-bind-port") + 1] == "45123"
    assert fixed[fixed.index("--master-port") + 1] == "45123"
    single = locust_argv("c", "h", workers=0, users=1, spawn_rate=1, run_time_s=1)
    assert not any(a.startswith("--master") for a in single)


_ends = st.lists(st.floats(0, 5000, allow_nan=False), max_size=30)
_latencies = st.lists(st.floats(0, 30, allow_nan=False), min_size=30, max_size=30)


@given(st.lists(st.tuples(_ends, _latencies), max_size=4))
def test_merge_orders_rows_across_files(streams: list[tuple[list[float], list[float]]]) -> None:
    """Rows from several files, each written in end-time order with t_s = end - latency
    (so only nearly ordered by t_s), merge into one t_s-ordered file, every row kept."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for i, (ends, latencies) in enumerate(streams):
            times = [end - lat for end, lat in zip(sorted(ends), latencies, strict=False)]
            body = "".join(f"{t:.6f},read_history,200,1,1.0,,,,1\n" for t in times)
            (d / f"requests-{i}.csv").write_text(HEADER + body)
        n = merge_request_files(d, d / "out.csv")
        lines = (d / "out.csv").read_text().splitlines()
    assert n == sum(len(e) for e, _ in streams) == len(lines) - 1
    ts = [float(line.split(",")[0]) for line in lines[1:]]
    assert ts == sorted(ts)


def test_merge_drops_a_torn_last_line_and_checks_the_header(tmp_path: Path) -> None:
    """A process killed mid-write leaves a partial line: it is dropped; a foreign header
    is an error naming the file."""
    (tmp_path / "requests-1.csv").write_text(HEADER + "1.0,join_room,201,1,2.0,,,,1\n2.0,jo")
    assert merge_request_files(tmp_path, tmp_path / "out.csv") == 1
    (tmp_path / "requests-2.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="requests-2.csv: unexpected header"):
        merge_request_files(tmp_path, tmp_path / "out.csv")


def test_the_reference_mix_is_declared_requests() -> None:
    """[load] mix becomes declared requests run by the one engine: join_room first for every
    user (its home session kept by capture_first), posts are keyed writes, zero weights drop."""
    from harness.load.declared import uses_captures
    from harness.load.reference_requests import reference_requests

    specs = {s.name: s for s in reference_requests(
        {"post_message": 5, "join_room": 0, "resume_session": 2, "export": 0}, rooms=3)}
    assert list(specs) == ["join_room", "post_message", "resume_session"]
    join = specs["join_room"]
    assert join.on_start and join.weight == 0 and join.capture_first == {"home": "session_id"}
    assert "{int:0:2}" in str(join.json)
    post = specs["post_message"]
    assert post.is_write and post.headers == {"Idempotency-Key": "{key}"} and not post.problems()
    assert uses_captures(post) == {"room", "session_id"}
    assert uses_captures(specs["resume_session"]) == {"home"}
    with pytest.raises(ValueError, match="unknown reference tasks: fly"):
        reference_requests({"fly": 1}, rooms=1)

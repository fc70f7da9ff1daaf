"""A user's locustfile as the master ships it to load workers: its hash is checked, its name
is a plain file name, and what it imports from beside itself is found before a run starts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.errors import HarnessError, ScenarioError
from harness.load.config import LoadRunConfig
from harness.load.remote import _translate, worker_argv
from harness.load.shipped import ShippedLocustfile, check_shippable, unshippable_imports

USERS = '''from locust import task

from harness.load.client import ChaosUser


class Chatter(ChaosUser):
    @task
    def read(self) -> None:
        self.send("GET", "/", name="read")
'''


def test_the_file_travels_with_its_hash_and_is_written_under_its_name(tmp_path: Path) -> None:
    """read -> to_message -> from_message keeps name and text; the hash is the text's SHA-256;
    the worker writes it into its own directory under the same name."""
    src = tmp_path / "users.py"
    src.write_text(USERS)
    shipped = ShippedLocustfile.read(src)
    assert shipped.sha256 == hashlib.sha256(USERS.encode()).hexdigest()
    back = ShippedLocustfile.from_message(shipped.to_message())
    assert back == shipped
    out = tmp_path / "worker"
    out.mkdir()
    written = back.write_into(out)
    assert written == out / "users.py" and written.read_text() == USERS


def test_a_changed_text_or_a_bad_name_is_refused() -> None:
    """A text that does not match the hash sent with it, or a name that is a path or not a
    .py file, raises ValueError saying which."""
    good = {"name": "users.py", "text": USERS, "sha256": hashlib.sha256(USERS.encode()).hexdigest()}
    with pytest.raises(ValueError, match="SHA-256"):
        ShippedLocustfile.from_message({**good, "text": USERS + "# changed\n"})
    for name in ("../users.py", "dir/users.py", "users.txt", ".py", "", "/tmp/x.py"):
        with pytest.raises(ValueError, match="plain"):
            ShippedLocustfile.from_message({**good, "name": name})
    with pytest.raises(ValueError, match="malformed"):
        ShippedLocustfile.from_message({"name": "users.py", "text": USERS})


def test_imports_from_beside_the_locustfile_are_found(tmp_path: Path) -> None:
    """A module or a package folder beside the file, and a relative import, are named with
    their line; the standard library, locust and the harness are not."""
    (tmp_path / "helpers.py").write_text("X = 1\n")
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    users = tmp_path / "users.py"
    users.write_text("import json\nimport helpers\nfrom shop.cart import Cart\n"
                     "from . import sibling\n" + USERS)
    assert unshippable_imports(users) == ["helpers (line 2)", "shop (line 3)",
                                          "a relative import (line 4)"]
    alone = tmp_path / "alone.py"
    alone.write_text(USERS)
    assert unshippable_imports(alone) == []


def test_check_shippable_refuses_only_for_remote_workers(tmp_path: Path) -> None:
    """With expect_workers the run is refused up front, naming the import and why; without
    remote workers (local processes share the disk) nothing is checked."""
    (tmp_path / "helpers.py").write_text("X = 1\n")
    users = tmp_path / "users.py"
    users.write_text("import helpers\n" + USERS)
    check_shippable(str(users), 0, "s.toml")
    check_shippable("", 2, "s.toml")
    with pytest.raises(ScenarioError) as err:
        check_shippable(str(users), 2, "s.toml")
    text = str(err.value)
    assert text.startswith("s.toml: target.locustfile: users.py imports helpers (line 1)")
    assert "sent only the locustfile itself" in text
    with pytest.raises(ScenarioError, match="cannot be sent"):
        check_shippable(str(tmp_path / "missing.py"), 1, "s.toml")


def test_a_worker_refuses_a_locustfile_answer_it_cannot_use() -> None:
    """The master's answer says why it cannot send its locustfile, or carries a text that
    does not match its hash: the worker stops with that reason (no retry, no fallback to the
    harness' own locustfile). A good answer gives the file, run by path with no config flag."""
    config = LoadRunConfig(mix={"post_message": 1}, requests_dir="/r", t0_monotonic=0.0,
                           run_time_s=5.0).to_json()
    good = ShippedLocustfile.checked("users.py", USERS,
                                     hashlib.sha256(USERS.encode()).hexdigest())
    answer = {"config": config, "run_t_s": 1.0}
    with pytest.raises(HarnessError, match="cannot send its locustfile: users.py: too big"):
        _translate({**answer, "locustfile_error": "users.py: too big"}, 0.0, 0.1)
    with pytest.raises(HarnessError, match="cannot be used: .*SHA-256"):
        _translate({**answer, "locustfile": {**good.to_message(), "text": "x = 1\n"}}, 0.0, 0.1)
    fetched = _translate({**answer, "locustfile": good.to_message()}, 0.0, 0.1)
    assert fetched.locustfile == good
    argv = worker_argv("h", 1, Path("c.json"), python="py", locustfile=Path("/d/users.py"))
    assert argv == ["py", "-m", "locust", "--worker", "--master-host", "h", "--master-port", "1",
                    "-f", "/d/users.py"]
    assert _translate(answer, 0.0, 0.1).locustfile is None

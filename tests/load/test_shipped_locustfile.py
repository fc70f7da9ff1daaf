"""A user's locustfile as the master ships it to load workers: its hash is checked, its name
is a plain file name, and what it imports from beside itself is found before a run starts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.errors import ScenarioError
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

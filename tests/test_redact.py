"""The one redaction function (harness.redact): every form a secret takes in a run directory
or on the console is masked; ordinary text, including what a replay needs, is left alone."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import redact as redact_module
from harness.redact import (
    MASK,
    is_secret_key,
    private_dir,
    redact,
    redact_obj,
    register_secret,
    secrets_in_dsn,
    write_private,
)


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    saved = set(redact_module._registered)
    redact_module._registered.clear()
    yield
    redact_module._registered.clear()
    redact_module._registered.update(saved)


CASES = {
    "postgresql://app:hunter22@127.0.0.1:5432/db": "postgresql://app:***@127.0.0.1:5432/db",
    # a password holding '@' (not encoded): the URL's last '@' ends it
    "postgresql://app:p@ss@w0rd@127.0.0.1:5432/db": "postgresql://app:***@127.0.0.1:5432/db",
    "--dsn postgresql://app:p%40ss%2Fw@h:5/db?sslmode=disable":
        "--dsn postgresql://app:***@h:5/db?sslmode=disable",
    "postgresql://h/db?user=u&password=xyz123&sslmode=disable":
        "postgresql://h/db?user=u&password=***&sslmode=disable",
    "host=h user=u password='a b c' dbname=d": "host=h user=u password='***' dbname=d",
    "host=h password=plainpw dbname=d": "host=h password=*** dbname=d",
    "postgresql://h/db?password=qq1234": "postgresql://h/db?password=***",
    'dsn: "postgresql://h/db?sslpassword=qq1234"': 'dsn: "postgresql://h/db?sslpassword=***"',
    'env = { API_TOKEN = "tok 123", MODE = "fast", DB_PASS = "pw1" }':
        'env = { API_TOKEN = "***", MODE = "fast", DB_PASS = "***" }',
    'PASSWORD = "with spaces"': 'PASSWORD = "***"',
    "SECRET_KEY = plain": "SECRET_KEY = ***",
    "STRIPE_KEY=sk_live_1": "STRIPE_KEY=***",
    "Authorization: Bearer abc.def": "Authorization: Bearer ***",
    "Authorization: Token abcdef": "Authorization: Token ***",
    "--admin-token xyz123 next": "--admin-token *** next",
    "--password=pw1 rest": "--password=*** rest",
    "ADMIN_TOKEN=qq1234": "ADMIN_TOKEN=***",
    '{"admin_token": "zz9999"}': '{"admin_token": "***"}',
    "{'password': 'x y'}": "{'password': '***'}",
    # left alone: prose, password-less DSNs, a scenario's write keys, the working directory
    "the admin token never appears": "the admin token never appears",
    "Token expired here": "Token expired here",
    "postgresql://postgres@127.0.0.1:5/postgres": "postgresql://postgres@127.0.0.1:5/postgres",
    'write_key = "k-{n}"': 'write_key = "k-{n}"',
    "http://127.0.0.1:8000/health": "http://127.0.0.1:8000/health",
    "PWD=/work/x": "PWD=/work/x",
    'mix = { post_message = 4, read_history = 2 }': 'mix = { post_message = 4, read_history = 2 }',
}


@pytest.mark.parametrize("raw", list(CASES))
def test_every_form_is_masked_and_ordinary_text_kept(raw: str) -> None:
    assert redact(raw) == CASES[raw]


def test_secret_names() -> None:
    for name in ("PGPASSWORD", "password", "DB_PASS", "PGPASS", "admin_token", "API_KEY", "KEY",
                 "client_secret", "Authorization", "api-key", "X_CREDENTIALS"):
        assert is_secret_key(name), name
    for name in ("write_key", "idempotency_key", "PWD", "OLDPWD", "dsn", "users", "BYPASS",
                 "keyboard", "monkey"):
        assert not is_secret_key(name), name


def test_registered_secrets_are_masked_with_their_encoded_forms() -> None:
    register_secret("tok-@/ 12345")
    text = f"a tok-@/ 12345 b {quote('tok-@/ 12345', safe='')} c"
    assert redact(text) == f"a {MASK} b {MASK} c"
    register_secret("short")  # too short to search for literally: ordinary text stays
    assert redact("a short b") == "a short b"
    assert redact("x given-secret y", ["given-secret"]) == f"x {MASK} y"


def test_redact_obj_masks_secret_keys_and_strings() -> None:
    data = {"argv": ["app", "--dsn", "postgresql://u:pw-123456@h/db"],
            "env": {"API_TOKEN": "abc", "N": 3, "FLAG": True, "EMPTY_TOKEN": ""},
            "error": 'command: migrate --dsn postgresql://u:pw-123456@h/db', "n": 1.5}
    out = redact_obj(data)
    text = json.dumps(out)
    assert "pw-123456" not in text and out["env"]["API_TOKEN"] == MASK
    assert out["env"]["N"] == 3 and out["env"]["FLAG"] is True and out["env"]["EMPTY_TOKEN"] == ""
    assert out["n"] == 1.5 and out["argv"][:2] == ["app", "--dsn"]


def test_secrets_in_dsn() -> None:
    assert secrets_in_dsn("postgresql://app:p%40ss@h/db") == ["p%40ss", "p@ss"]
    assert secrets_in_dsn("postgresql://app:p@ss@h/db") == ["p@ss"]
    assert secrets_in_dsn("host=h password='a b'") == ["a b"]
    assert secrets_in_dsn("postgresql://h/db?password=qq") == ["qq"]
    assert secrets_in_dsn("postgresql://app@h/db") == []


def test_private_files_and_dirs(tmp_path: Path) -> None:
    run = private_dir(tmp_path / "a" / "run")
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    write_private(run / "f.txt", "one\n")
    write_private(run / "f.txt", "two\n", append=True)
    assert (run / "f.txt").read_text() == "one\ntwo\n"
    assert stat.S_IMODE((run / "f.txt").stat().st_mode) == 0o600


_PASSWORD = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r\t \"'<>\\",
                                           categories=("L", "N", "P", "S")),
                    min_size=6, max_size=30)


@settings(max_examples=300, deadline=None)
@given(secret=_PASSWORD)
def test_no_form_of_any_password_survives(secret: str) -> None:
    """Property: whatever the password (with '@', '/', '%', '&', unicode...), none of the forms
    a run writes it in lets it, or its URL-encoded form, through - without registering it."""
    encoded = quote(secret, safe="")
    forms = [
        f"postgresql://app:{encoded}@127.0.0.1:5432/app",
        f"postgresql://app:{secret}@127.0.0.1:5432/app" if "/" not in secret else "",
        f"--dsn postgresql://app:{encoded}@h:1/db?sslmode=disable --profile x",
        f"host=127.0.0.1 user=app password='{secret}' dbname=app",
        f"postgresql://h:1/db?user=app&password={encoded}&sslmode=disable",
        f"postgresql://h:1/db?password={encoded}",
        f'dsn = "postgresql://h:1/db?password={encoded}"',
        f'API_TOKEN = "{secret}"',
        f"DB_PASSWORD={encoded}",
        json.dumps({"admin_token": secret}),
        f"Authorization: Bearer {encoded}",
        f"--admin-token {encoded} --users 5",
    ]
    for form in filter(None, forms):
        redacted = redact(form)
        for value in {secret, encoded}:
            if value not in form.replace(value, ""):  # not also ordinary text of the form
                assert value not in redacted, (form, redacted)

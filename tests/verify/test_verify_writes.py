"""Jepsen-style write accounting on hand-made ledgers and final reads with known answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from verifykit import RunDirBuilder

from harness.records import FinalReadRecord
from harness.verify.writes import WriteLedger, describe_keys
from harness.verify.writes import account_writes as _account_writes


def account_writes(*args: Any) -> dict[str, Any]:
    """The ``writes`` section as result.json holds it."""
    return _account_writes(*args).to_json()


def _final(rows: dict[str, int], ok: bool = True) -> FinalReadRecord:
    return FinalReadRecord(ok=ok, rows=rows, reads=2, agreed=True)


def _ledger(attempts: list[tuple[str, int, bool]]) -> WriteLedger:
    ledger = WriteLedger()
    for key, status, ack in attempts:
        ledger.add(key, status, ack)
    return ledger


def test_each_anomaly_class_is_found_with_its_key() -> None:
    """One key of every class: acked-but-absent (lost), two rows (duplicated), never attempted
    (unexpected), a 409 that still landed (phantom) and a timeout that landed (recovered);
    each must be counted once and named in the evidence; the verdict must be fail."""
    ledger = _ledger([
        ("lost", 201, True), ("dup", 201, True), ("phantom", 409, False),
        ("recov", 0, False), ("recov", 503, False), ("fine", 0, False), ("fine", 201, True),
        ("gone", 0, False),
    ])
    w = account_writes(ledger, _final({"dup": 2, "stranger": 1, "phantom": 1, "recov": 1,
                                       "fine": 1}))
    assert (w["lost"], w["duplicated"], w["unexpected"], w["phantom"], w["recovered"]) == (
        1, 1, 1, 1, 1)
    assert w["examples"]["lost"] == ["lost"]
    assert w["examples"]["duplicated"] == ["dup"]
    assert w["examples"]["unexpected"] == ["stranger"]
    assert w["examples"]["phantom"] == ["phantom"]
    assert w["examples"]["recovered"] == ["recov"]
    assert w["indeterminate"] == 1  # "gone": unknown outcome, absent: no anomaly
    assert w["verdict"] == "fail"


def test_recovered_unknown_alone_is_not_a_failure() -> None:
    """A write that timed out but landed is reported as recovered, and the verdict passes."""
    w = account_writes(_ledger([("a", 0, False), ("b", 201, True)]), _final({"a": 1, "b": 1}))
    assert w["recovered"] == 1 and w["lost"] == 0
    assert w["verdict"] == "pass"


def test_no_final_read_is_unknown_never_pass() -> None:
    """Without a final read (missing file, or ok false) nothing can be claimed: every count is
    None and the verdict is unknown, even with zero writes."""
    for final in (None, _final({}, ok=False)):
        w = account_writes(_ledger([("a", 201, True)]), final)
        assert w["verdict"] == "unknown"
        assert w["lost"] is None and w["reason"]


def test_a_retried_key_with_a_final_4xx_is_not_definitely_failed() -> None:
    """Attempt 1 timed out (may have committed), attempt 2 got 409: the key's outcome is
    unknown, so its row in the final read is recovered, not a phantom."""
    w = account_writes(_ledger([("k", 0, False), ("k", 409, False)]), _final({"k": 1}))
    assert w["phantom"] == 0 and w["recovered"] == 1


def test_describe_keys_shows_every_attempt_of_a_lost_key(tmp_path: Path) -> None:
    """The evidence of a lost key is its recorded attempts, read back from requests.csv."""
    b = RunDirBuilder(tmp_path)
    b.write_attempt(1.0, "k1", 0, ok=False).write_attempt(2.0, "k1", 201, attempt=2)
    b.write_attempt(3.0, "other", 201)
    b.write()
    found = describe_keys(tmp_path / "requests.csv", ["k1"])
    assert [a["status"] for a in found["k1"]] == [0, 201]
    assert found["k1"][1]["ack"] is True and found["k1"][1]["attempt"] == 2


_keys = st.sampled_from([f"k{i}" for i in range(12)])
_status = st.sampled_from([0, 201, 200, 400, 404, 408, 409, 422, 500, 503])


@settings(max_examples=200, deadline=None)
@given(
    attempts=st.lists(st.tuples(_keys, _status), max_size=40),
    rows=st.dictionaries(_keys, st.integers(min_value=1, max_value=3), max_size=12),
)
def test_set_accounting_matches_a_brute_force_oracle(
    attempts: list[tuple[str, int]], rows: dict[str, int]
) -> None:
    """Against the definitions applied naively per key: A, K (some 2xx), F (every attempt a
    definite 4xx, not 408), lost=K-R, unexpected=R-A, duplicated, phantom=R&F,
    recovered=(R&A)-K-F; with nothing attempted, none of them is measured."""
    ledger = _ledger([(k, s, 200 <= s < 300) for k, s in attempts])
    w = account_writes(ledger, _final(rows))
    a = {k for k, _ in attempts}
    acked = {k for k, s in attempts if 200 <= s < 300}
    failed = {k for k in a if all(400 <= s < 500 and s != 408 for kk, s in attempts if kk == k)}
    failed -= acked
    r = set(rows)
    if not a:  # nothing attempted: nothing to hold the read against, not measured
        assert w["verdict"] == "unknown" and w["lost"] is None and w["unexpected"] is None
        assert w["read"] == len(r) and "no write was recorded" in w["reason"]
        return
    assert w["lost"] == len(acked - r)
    assert w["unexpected"] == len(r - a)
    assert w["duplicated"] == sum(1 for n in rows.values() if n > 1)
    assert w["phantom"] == len(r & failed)
    assert w["recovered"] == len((r & a) - acked - failed)
    bad = acked - r or r - a or r & failed or any(n > 1 for n in rows.values())
    assert w["verdict"] == ("fail" if bad else "pass")


def test_a_hash_collision_falls_back_to_the_key_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys are compared by a 64-bit hash; two different keys on one hash (forced here) are
    told apart by their CRC-32 and the accounting is redone on the texts: same answer."""
    attempts = [("lost", 201, True), ("dup", 201, True), ("phantom", 409, False),
                ("recov", 0, False), ("fine", 201, True)]
    final = {"dup": 2, "stranger": 1, "phantom": 1, "recov": 1, "fine": 1}
    expected = account_writes(_ledger(attempts), _final(dict(final)))
    monkeypatch.setattr("harness.verify.writes._key_hash", lambda key: 7)
    collided = account_writes(_ledger(attempts), _final(dict(final)))
    assert collided == expected and collided["examples"]["lost"] == ["lost"]


@pytest.mark.parametrize("slice_chars", [16, 1 << 20])
def test_final_read_is_parsed_in_slices_with_the_same_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slice_chars: int) -> None:
    """final_read.json's rows are parsed a slice at a time (a day's read has millions of keys);
    keys with commas, quotes, braces and digits in them still come out whole (a cut that
    would split one falls back to the whole-file parse), and the accounting is the same."""
    import json

    from harness.verify.writes import FinalRead, load_final_read

    monkeypatch.setattr("harness.verify.writes._SLICE_CHARS", slice_chars)
    rows = {f"k-{i}": 1 for i in range(200)}
    rows.update({'odd1, "x': 1, "a1}": 2, 'b2,': 1, "ü-7": 1})
    attempts = [(k, 201, True) for k in rows] + [("lost", 201, True)]
    final = FinalReadRecord(ok=True, rows=rows, reads=2, agreed=True, t_s=70.0,
                            sql='select "rows": {1, "x"}')
    path = tmp_path / "final_read.json"
    path.write_text(json.dumps(final.to_json()) + "\n")
    loaded = load_final_read(path)
    assert isinstance(loaded, FinalRead) and len(loaded) == len(rows)
    assert sorted(loaded.key(i) for i in range(len(loaded))) == sorted(rows)
    expected = account_writes(_ledger(attempts),
                              FinalReadRecord.from_json(json.loads(path.read_text())))
    assert account_writes(_ledger(attempts), loaded) == expected
    assert expected["lost"] == 1 and expected["duplicated"] == 1
    plain = {k: 1 for k in list(rows)[:150]}
    path.write_text(json.dumps(_final(plain).to_json()))
    sliced = load_final_read(path)
    assert isinstance(sliced, FinalRead) and len(sliced) == 150
    path.write_text(json.dumps(_final({}, ok=False).to_json()))
    assert load_final_read(path) == _final({}, ok=False)

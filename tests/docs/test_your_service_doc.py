"""docs/your-service.md stays true: every metric is explained, its TOML and Python examples
parse, the fields it names exist in the loader, and the README links it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from harness.scenario.dependencies import DEPENDENCY_KEYS
from harness.scenario.requests_section import REQUEST_KEYS
from harness.verify.catalog import METRICS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "your-service.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


def test_every_metric_is_explained() -> None:
    missing = [name for name in METRICS if f"`{name}`" not in DOC]
    assert not missing, f"docs/your-service.md does not say what these need: {missing}"


def test_examples_parse_and_name_real_keys() -> None:
    tomls = _blocks("toml")
    assert len(tomls) >= 5
    for text in tomls:
        doc = tomllib.loads(text)
        for entry in doc.get("load", {}).get("request", []):
            assert set(entry) <= set(REQUEST_KEYS), entry
        for entry in doc.get("dependency", []):
            assert set(entry) <= set(DEPENDENCY_KEYS), entry
    for text in _blocks("python"):
        compile(text, "your-service.md", "exec")
    rows = re.findall(r"^\| `(\w+)` \|", DOC, flags=re.M)
    assert set(rows) <= set(REQUEST_KEYS) | {"method", "headers", "weight"}, rows


def test_readme_links_it() -> None:
    assert "docs/your-service.md" in (ROOT / "README.md").read_text(encoding="utf-8")

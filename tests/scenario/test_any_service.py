"""A user's own service in a scenario: declared requests, probes, error patterns, dependencies.

Every mistake is a ScenarioError naming the file, the key and what was expected; what loads
writes back as TOML that reads back equal (the run directory's scenario.toml).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.load.declared import StatusSet, json_path, parse_path
from harness.load.template import Context, JsonTemplate, Template, TemplateError
from harness.scenario import load_scenario, loads_scenario, scenario_to_toml

ROOT = Path(__file__).resolve().parents[2]

SERVICE = """
name = "svc"
duration = "30s"
[target]
kind = "command"
command = "node server.js"
{target}
[load]
users = 2
[[load.request]]
name = "login"
method = "POST"
path = "/login"
on_start = true
weight = 0
json = {{ customer = "c-{{user}}" }}
capture = {{ token = "token" }}
[[load.request]]
name = "order"
method = "POST"
path = "/orders"
headers = {{ Authorization = "Bearer {{token}}" }}
json = {{ order_key = "{{key}}", qty = "{{int:1:5}}" }}
write_key = "{{key}}"
ok_json = "data.order.id"
{more}
"""


def _svc(target: str = "", more: str = "") -> str:
    return SERVICE.format(target=target, more=more)


def _error(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "svc.toml")
    return str(info.value)


def test_declared_requests_load_and_round_trip() -> None:
    s = loads_scenario(_svc(more='[[dependency]]\nname = "cache"\nupstream = "127.0.0.1:6379"\n'
                            'listen = "127.0.0.1:16379"\n'), "svc.toml")
    login, order = s.load.requests
    assert login.on_start and login.capture == {"token": "token"} and not login.is_write
    assert order.is_write and order.ok_status == StatusSet() and order.ok_json == "data.order.id"
    assert s.target.health_path == s.target.ready_path == s.target.stats_path == ""
    assert s.dependencies[0].listen == "127.0.0.1:16379"
    assert loads_scenario(scenario_to_toml(s), "svc.toml") == s


@pytest.mark.parametrize(("more", "key", "words"), [
    ('[[load.request]]\nname = "x"\npath = "/a/{nope}"\n', "load.request[2]",
     "neither a built-in placeholder"),
    ('[[load.request]]\nname = "x"\npath = "/a/{int:5:1}"\n', "load.request[2].path", "LO must be"),
    ('[[load.request]]\nname = "x"\npath = "/a/{"\n', "load.request[2].path", "unmatched"),
    ('[[load.request]]\nname = "x"\nmethod = "FETCH"\npath = "/a"\n', "load.request[2].method",
     "expected one of"),
    ('[[load.request]]\nname = "x"\npath = "/a"\nok_status = ["2xy"]\n',
     "load.request[2].ok_status", '"2xx"'),
    ('[[load.request]]\nname = "x"\npath = "/a"\nwrite_key = "{key}"\n',
     "load.request[2].write_key", "never sends its key"),
    ('[[load.request]]\nname = "x"\npath = "/a/{key}"\nwrite_key = "fixed"\n',
     "load.request[2].write_key", "must contain {key}"),
    ('[[load.request]]\nname = "login"\npath = "/a"\n', "load.request[2].name", "declared twice"),
    ('[[load.request]]\nname = "x"\npath = "/a"\nok_json = "a..b"\n', "load.request[2].ok_json",
     "expected a path such as"),
    ('[[load.request]]\nname = "x"\npath = "/a"\njson = { at = 1979-05-27 }\n',
     "load.request[2].json.at", "JSON cannot hold"),
    ('[[load.request]]\nname = "x"\npath = "/a"\ncapture = { key = "id" }\n',
     "load.request[2].capture.key", "built-in placeholder"),
])
def test_declared_request_mistakes_are_located(more: str, key: str, words: str) -> None:
    message = _error(_svc(more=more))
    assert f"svc.toml: {key}:" in message and words in message, message


def test_mix_and_declared_requests_are_exclusive() -> None:
    text = _svc().replace("users = 2", "users = 2\nmix = { post_message = 1 }")
    assert "load.mix: give either mix" in _error(text)


def test_probe_paths_and_patterns_are_checked() -> None:
    assert "target.ready_path: expected a path starting with '/'" in _error(
        _svc(target='ready_path = "readyz"'))
    message = _error(_svc(target='unhandled_error_patterns = ["ok", "(unclosed"]'))
    assert "target.unhandled_error_patterns[1]" in message and "(unclosed" in message
    s = loads_scenario(_svc(target='health_path = "/healthz"\nunhandled_error_patterns = '
                            '["FATAL: .*"]'), "svc.toml")
    assert s.target.health_path == "/healthz" and s.target.unhandled_error_patterns == ("FATAL: .*",)


@pytest.mark.parametrize(("deps", "key", "words"), [
    ('[[dependency]]\nname = "postgres"\nupstream = "127.0.0.1:1"\n', "dependency[0].name", "not postgres"),
    ('[[dependency]]\nname = "a"\nupstream = "127.0.0.1:1"\ncommand = "x"\n', "dependency[0].upstream",
     "exactly one"),
    ('[[dependency]]\nname = "a"\n', "dependency[0].upstream", "exactly one"),
    ('[[dependency]]\nname = "a"\nupstream = "nowhere"\n', "dependency[0].upstream", "host:port"),
    ('[[dependency]]\nname = "a"\ncommand = "x"\nlisten = "0.0.0.0:9"\n', "dependency[0].listen",
     "loopback only"),
    ('[[dependency]]\nname = "a"\ncommand = "x"\n[[dependency]]\nname = "a"\ncommand = "y"\n',
     "dependency[1].name", "declared twice"),
])
def test_dependency_mistakes_are_located(deps: str, key: str, words: str) -> None:
    message = _error(_svc(more=deps))
    assert f"svc.toml: {key}:" in message and words in message, message


FAULT = '[[fault]]\nat = "5s"\nfor = "3s"\naction = "network.down"\nproxy = "{proxy}"\n'


def test_a_network_fault_names_an_existing_link() -> None:
    deps = '[[dependency]]\nname = "cache"\nupstream = "127.0.0.1:6379"\n'
    message = _error(_svc(more=deps + FAULT.format(proxy="redis")))
    assert "fault[0].proxy: no link named 'redis'" in message and "'cache'" in message
    s = loads_scenario(_svc(more=deps + FAULT.format(proxy="cache")), "svc.toml")
    assert s.faults[0].params["proxy"] == "cache"


def test_faults_that_cannot_reach_a_url_target_are_refused() -> None:
    url = _svc().replace('kind = "command"\ncommand = "node server.js"',
                         'kind = "url"\nurl = "http://127.0.0.1:8080"')
    message = _error(url + FAULT.format(proxy="postgres"))
    assert "fault[0].proxy:" in message and "[postgres] listen" in message
    restart = '[[fault]]\nat = "5s"\naction = "postgres.restart"\n'
    assert "fault[0].action:" in _error(url + restart)
    fixed = url + '[postgres]\nlisten = "127.0.0.1:15432"\n' + FAULT.format(proxy="postgres")
    loaded = loads_scenario(fixed, "svc.toml")
    assert loaded.postgres.listen == "127.0.0.1:15432"
    # the scenario as a run directory records it reads back (no listen_host for a url target)
    assert loads_scenario(scenario_to_toml(loaded), "copy.toml") == loaded


def test_relative_workdir_and_locustfile_resolve_against_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    path = tmp_path / "svc" / "scenario.toml"
    path.write_text(_svc(target='workdir = "app"\nlocustfile = "load/users.py"'))
    s = load_scenario(path)
    assert s.target.workdir == str(tmp_path / "svc" / "app")
    assert s.target.locustfile == str(tmp_path / "svc" / "load" / "users.py")
    assert loads_scenario(scenario_to_toml(s), "copy.toml").target.workdir == s.target.workdir


def test_templates_render_seeded_typed_values() -> None:
    import random

    ctx = Context(random.Random(1), "0-3", 0, 7, "k1-0-3-000007", {"tok": "abc", "obj": {"a": 1}})
    assert Template("/u/{user}/{seq}/{key}").render(ctx) == "/u/0-3/7/k1-0-3-000007"
    assert Template("{{literal}} {tok}").render(ctx) == "{literal} abc"
    tree = JsonTemplate({"n": "{int:3:3}", "o": "{obj}", "s": "x{int:3:3}", "l": ["{choice:z}"]})
    assert tree.render(ctx) == {"n": 3, "o": {"a": 1}, "s": "x3", "l": ["z"]}
    assert tree.names == {"int", "obj", "choice"}
    with pytest.raises(TemplateError):
        Template("{a b}")
    with pytest.raises(KeyError):
        Template("{missing}").render(ctx)


def test_json_paths() -> None:
    body = {"data": {"items": [{"id": 5}], "none": None}, "errors": []}
    assert json_path(body, parse_path("data.items[0].id")) == 5
    assert json_path(body, parse_path("$.data.items[1].id")) is None
    assert json_path(body, parse_path("data.none")) is None
    assert json_path(body, parse_path("errors")) == []
    for bad in ("", "a..b", "a[x]", "a.[0]x"):
        with pytest.raises(ValueError):
            parse_path(bad)


def test_status_sets() -> None:
    ok = StatusSet.parse(["2xx", 404])
    assert 201 in ok and 404 in ok and 500 not in ok and 0 not in ok
    assert ok.to_list() == ["2xx", 404]
    for bad in (["2xy"], [99], [True], []):
        with pytest.raises(ValueError):
            StatusSet.parse(bad)


def test_the_shipped_examples_validate() -> None:
    for path in sorted((ROOT / "examples").glob("*/scenario*.toml")):
        s = load_scenario(path)
        assert s.description and s.slos, path

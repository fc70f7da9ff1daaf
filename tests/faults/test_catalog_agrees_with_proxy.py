"""The fault catalogue's network faults and the proxy's toxics agree on toxic attributes.

A ``network.<type>`` fault adds one toxic of ``<type>``: its parameters are the toxic's
attributes plus the fields named in ``TOXIC_FIELDS``. The catalogue builds those attributes
from ``harness.toxiproxy.toxics``; these tests fail if either side is changed so that a fault
would send a name the proxy ignores, leave out one it expects, default differently from the
proxy, or allow a value the proxy refuses. Pure Python: no proxy process, no sockets.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, cast

import pytest

from harness.faults.actions import ACTIONS, FaultEnv
from harness.faults.catalog import FAULTS, TOXIC_FIELDS, FaultSpec
from harness.scenario.schema import Fault
from harness.toxiproxy.apierror import ApiError
from harness.toxiproxy.jsonbody import INT64_MAX
from harness.toxiproxy.toxics import (
    STREAMS,
    TOXIC_TYPES,
    parse_toxic_attributes,
    parse_toxic_header,
)

#: Network faults that add no toxic, and why.
NOT_A_TOXIC = {"network.down": "disables the proxy (enabled=false); the API has no 'down' toxic"}
#: Toxic types no fault adds, and why.
NO_FAULT = {"noop": "passes data unchanged: nothing to inject"}
#: What each fault parameter that is not a toxic attribute becomes in the API call.
FIELD_ROLES = {
    "proxy": "the {proxy} in POST /proxies/{proxy}/toxics",
    "stream": "the toxic's 'stream' field",
    "toxicity": "the toxic's 'toxicity' field",
}

TOXIC_FAULTS = sorted(n for n in FAULTS if n.startswith("network.") and n not in NOT_A_TOXIC)


def _type(fault_name: str) -> str:
    return fault_name.removeprefix("network.")


def _attribute_params(spec: FaultSpec) -> list[str]:
    return [name for name in spec.params if name not in TOXIC_FIELDS]


def _valid_params(spec: FaultSpec, **override: object) -> dict[str, Any]:
    """The parameters as the loader resolves them: defaults, and each required one at its minimum."""
    params = {name: p.min if p.required else p.default for name, p in spec.params.items()}
    return {**params, **override}


def test_network_faults_and_toxic_types_pair_up() -> None:
    """Every network fault but the listed ones is a toxic type, and every toxic type but the
    listed ones has a fault: a new toxic in the proxy, or a new fault, needs its partner."""
    assert set(NOT_A_TOXIC) <= set(FAULTS) and not set(NOT_A_TOXIC) & {f"network.{t}" for t in TOXIC_TYPES}
    assert set(NO_FAULT) <= set(TOXIC_TYPES)
    assert {_type(n) for n in TOXIC_FAULTS} == set(TOXIC_TYPES) - set(NO_FAULT)
    assert set(TOXIC_FAULTS) <= set(ACTIONS)


def test_fields_that_are_not_attributes_are_mapped() -> None:
    """proxy, stream and toxicity are on every toxic fault and are no toxic's attribute; stream
    offers the proxy's streams, and stream and toxicity default as the proxy does."""
    assert set(TOXIC_FIELDS) == set(FIELD_ROLES)
    assert not set(TOXIC_FIELDS) & {a for t in TOXIC_TYPES.values() for a in t.attribute_names}
    for name in TOXIC_FAULTS:
        params = FAULTS[name].params
        assert set(TOXIC_FIELDS) <= set(params), name
        header = parse_toxic_header({"type": _type(name)})  # what the proxy does when they are absent
        assert params["stream"].default == header.stream, name
        assert set(params["stream"].choices or ()) == set(STREAMS), name
        assert params["toxicity"].default == header.toxicity, name


@pytest.mark.parametrize("name", TOXIC_FAULTS)
def test_attribute_names_match(name: str) -> None:
    """The fault's other parameters are exactly the toxic's attributes, in the same order."""
    assert tuple(_attribute_params(FAULTS[name])) == TOXIC_TYPES[_type(name)].attribute_names


@pytest.mark.parametrize("name", TOXIC_FAULTS)
def test_defaults_match(name: str) -> None:
    """A parameter with a default has the value the proxy gives that attribute when a request
    leaves it out; an attribute whose absent value the proxy refuses must be required."""
    spec, type_ = FAULTS[name], _type(name)
    full = {k: v for k, v in _valid_params(spec).items() if k not in TOXIC_FIELDS}
    for attr in _attribute_params(spec):
        param = spec.params[attr]
        without = {k: v for k, v in full.items() if k != attr}
        try:
            absent_value = parse_toxic_attributes(type_, without)[attr]
        except ApiError:
            assert param.required, f"{name}.{attr}: the proxy refuses it absent, so it must be required"
            continue
        if not param.required:
            assert param.default == absent_value, (
                f"{name}.{attr}: default {param.default!r}, the proxy's {absent_value!r}")


@pytest.mark.parametrize("name", TOXIC_FAULTS)
def test_accepted_values_are_accepted_by_the_proxy(name: str) -> None:
    """Every attribute parameter is an int the proxy can hold, bounded below; the proxy accepts
    the catalogue's lowest value of each (so it accepts every value the loader lets through)."""
    spec, type_ = FAULTS[name], _type(name)
    for attr in _attribute_params(spec):
        param = spec.params[attr]
        assert param.type == "int", f"{name}.{attr}: the proxy's attributes are int64"
        assert param.min is not None, f"{name}.{attr}: no lower bound"
        assert param.max is None or param.max <= INT64_MAX
        lowest = {k: v for k, v in _valid_params(spec, **{attr: param.min}).items()
                  if k not in TOXIC_FIELDS}
        assert parse_toxic_attributes(type_, lowest)[attr] == param.min, f"{name}.{attr}"


class _RecordingClient:
    """Stands in for ProxyClient: keeps the toxics the action asks for."""

    def __init__(self) -> None:
        self.added: list[dict[str, Any]] = []

    def add_toxic(self, proxy: str, **body: Any) -> dict[str, Any]:
        self.added.append({"proxy": proxy, **body})
        return body

    def remove_toxic(self, proxy: str, name: str) -> None:
        pass


@pytest.mark.parametrize("name", TOXIC_FAULTS)
def test_what_the_action_sends_is_what_the_proxy_takes(name: str) -> None:
    """End to end without sockets: the fault's action, run with resolved parameters, sends a
    toxic whose header and attributes the proxy parses back to exactly what was sent."""
    spec, client = FAULTS[name], _RecordingClient()
    params = _valid_params(spec, stream="upstream", toxicity=0.5)
    fault = Fault(index=0, action=name, at=0.0, for_=1.0, repeat=None,
                  params=MappingProxyType(params))
    env = FaultEnv(pg=cast(Any, None), app=None, proxy=cast(Any, client))
    ACTIONS[name](env, fault, fault.params)
    (sent,) = client.added
    assert sent["proxy"] == params["proxy"]
    header = parse_toxic_header({k: sent[k] for k in ("name", "type", "stream", "toxicity")})
    assert (header.type, header.stream, header.toxicity) == (_type(name), "upstream", 0.5)
    assert parse_toxic_attributes(header.type, sent["attributes"]) == sent["attributes"]

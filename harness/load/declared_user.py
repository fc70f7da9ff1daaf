"""Run the scenario's declared requests (``[[load.request]]``) as Locust users.

Each user first runs the ``on_start`` requests in order (a login, say), then picks
requests by weight. Templates are rendered once per request, so a write's retries
send the same body and key. A request that needs a captured value this user does not
have yet first runs the request that captures it (once); if the value is still
missing, the request is skipped: it was never sent, so it is not a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from locust import task

from harness.load.client import CONFIG, ChaosUser, response_json
from harness.load.declared import RequestSpec, json_path, parse_path, uses_captures
from harness.load.keys import TaskPicker
from harness.load.template import Context, JsonTemplate, Template

__all__ = ["DeclaredUser"]


@dataclass(frozen=True)
class _Compiled:
    """One request's templates, parsed once per process."""

    spec: RequestSpec
    path: Template
    headers: tuple[tuple[str, Template], ...]
    json: JsonTemplate | None
    body: Template | None
    write_key: Template | None
    needs: frozenset[str]
    uses_key: bool

    @classmethod
    def of(cls, spec: RequestSpec) -> _Compiled:
        return cls(
            spec=spec, path=Template(spec.path),
            headers=tuple((k, Template(v)) for k, v in spec.headers.items()),
            json=JsonTemplate(spec.json) if spec.json is not None else None,
            body=Template(spec.body) if spec.body is not None else None,
            write_key=Template(spec.write_key) if spec.write_key else None,
            needs=frozenset(uses_captures(spec)),
            uses_key="key" in set().union(*spec.templates().values()),
        )


_REQUESTS = {spec.name: _Compiled.of(spec) for spec in CONFIG.declared_requests()}
_PRODUCERS: dict[str, str] = {}
for _spec in CONFIG.declared_requests():
    for _name in _spec.captured:
        _PRODUCERS.setdefault(_name, _spec.name)


class DeclaredUser(ChaosUser):
    """A user that runs the scenario's declared requests."""

    abstract = True

    def on_start(self) -> None:
        super().on_start()
        self.seq = 0
        self.captures: dict[str, object] = {}
        mix = {name: c.spec.weight for name, c in _REQUESTS.items() if c.spec.weight > 0}
        self.picker = TaskPicker(mix, self.rng)
        for compiled in _REQUESTS.values():
            if compiled.spec.on_start:
                self.run_request(compiled.spec.name)

    @task
    def next_request(self) -> None:
        """Run one request chosen by weight."""
        self.run_request(self.picker.next())

    def run_request(self, name: str, depth: int = 0) -> bool:
        """Send the declared request ``name``; True when it was done (ok / acknowledged)."""
        compiled = _REQUESTS[name]
        for missing in compiled.needs - self.captures.keys():
            producer = _PRODUCERS.get(missing)
            if producer is None or depth > 2 or not self.run_request(producer, depth + 1):
                return False
        self.seq += 1
        spec = compiled.spec
        ctx = Context(self.rng, self.user_id, self.worker_index, self.seq,
                      self.new_key() if compiled.uses_key else "",
                      self.captures)
        kwargs: dict[str, object] = {
            "headers": {k: t.render(ctx) for k, t in compiled.headers},
        }
        if compiled.json is not None:
            kwargs["json"] = compiled.json.render(ctx)
        elif compiled.body is not None:
            kwargs["data"] = compiled.body.render(ctx).encode("utf-8")
        path = compiled.path.render(ctx)
        if compiled.write_key is not None:
            resp = self.write(spec.method, path, key=compiled.write_key.render(ctx), name=name,
                              ok=spec.ok_status, ok_json=spec.ok_json, **kwargs)
        else:
            resp = self.send(spec.method, path, name=name, ok=spec.ok_status,
                             ok_json=spec.ok_json, **kwargs)
        if resp is None:
            return False
        if spec.capture or spec.capture_first:
            self._capture(spec, resp)
        return True

    def _capture(self, spec: RequestSpec, resp: object) -> None:
        try:
            body = response_json(resp)
        except ValueError:
            return
        for name, path in spec.captured.items():
            if name in spec.capture_first and name in self.captures:
                continue  # the first value stays
            value = json_path(body, parse_path(path))
            if value is not None:
                self.captures[name] = value


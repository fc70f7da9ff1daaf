"""The node service's load as a Python locustfile, for what declared requests cannot say.

It sends through the harness' careful client (``harness.load.client.ChaosUser``): every
request is recorded, and every order is a write keyed by its order_key, retried with the same
key, so the harness can read the keys back and count lost and duplicated orders. Used by
``scenario-locustfile.toml`` (``[target] locustfile = "locustfile.py"``).
"""

from __future__ import annotations

from locust import task

from harness.load.client import ChaosUser, StatusSet

_FOUND_OR_NOT = StatusSet.parse(["2xx", 404])


class Shopper(ChaosUser):
    """Logs in once, then orders in bursts of one to three and looks its last order up."""

    def on_start(self) -> None:
        super().on_start()  # seeds this user's generator and keys
        resp = self.send("POST", "/login", name="login", ok_json="token",
                         json={"customer": f"shopper-{self.user_id}"})
        self.token = resp.json()["token"] if resp is not None else ""
        self.last_order = ""

    @task(3)
    def order(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            key = self.new_key()  # seeded: a replay sends the same keys
            resp = self.write("POST", "/orders", key=key, name="place_order", ok_json="id",
                              headers={"Authorization": f"Bearer {self.token}"},
                              json={"order_key": key, "item": self.rng.choice(["fig", "kiwi"]),
                                    "qty": self.rng.randint(1, 9)})
            if resp is not None:
                self.last_order = key

    @task(1)
    def look_up(self) -> None:
        if self.last_order:
            self.send("GET", f"/orders/{self.last_order}", name="get_order", ok=_FOUND_OR_NOT)

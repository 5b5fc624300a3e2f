"""A small Snyk world for integration tests, served by the project's simulator over real HTTP on 127.0.0.1.

Fixed ids, so tests and their failure messages can name orgs and integrations; an admin client over `/_sim/`.
"""

from __future__ import annotations

from typing import Any

import httpx

GROUP = "0f000000-0000-4000-8000-000000000001"
OTHER_GROUP = "0f000000-0000-4000-8000-000000000002"
ORG_PLATFORM = "0a000000-0000-4000-8000-00000000000a"
ORG_TEAM_A = "0b000000-0000-4000-8000-00000000000b"
ORG_TEAM_B = "0c000000-0000-4000-8000-00000000000c"
ORG_WITH_GITHUB = "0d000000-0000-4000-8000-00000000000d"
ORG_ELSEWHERE = "0e000000-0000-4000-8000-00000000000e"
ORG_UNKNOWN = "09000000-0000-4000-8000-000000000009"
GITHUB = "1a000000-0000-4000-8000-0000000000a1"
GITLAB = "1a000000-0000-4000-8000-0000000000a2"
BITBUCKET = "1a000000-0000-4000-8000-0000000000a3"
TEAM_D_GITHUB = "1d000000-0000-4000-8000-0000000000d1"
ELSEWHERE_GITHUB = "1e000000-0000-4000-8000-0000000000e1"
GROUP_KEY = "test-key-with-group-access-0001"
TEAM_A_ONLY_KEY = "test-key-team-a-only-0002"


def seed() -> dict[str, Any]:
    return {
        "rateLimitPerMinute": 2000,
        "groups": [
            {
                "id": GROUP,
                "name": "acme",
                "orgs": [
                    {
                        "id": ORG_PLATFORM,
                        "name": "platform",
                        "integrations": [
                            {"id": GITHUB, "type": "github", "brokerEnabled": False},
                            {"id": GITLAB, "type": "gitlab", "brokerEnabled": False},
                            {"id": BITBUCKET, "type": "bitbucket-server", "brokerEnabled": False},
                        ],
                    },
                    {"id": ORG_TEAM_A, "name": "team-a", "integrations": []},
                    {"id": ORG_TEAM_B, "name": "team-b", "integrations": []},
                    {
                        "id": ORG_WITH_GITHUB,
                        "name": "team-d",
                        "integrations": [{"id": TEAM_D_GITHUB, "type": "github", "brokerEnabled": False}],
                    },
                ],
            },
            {
                "id": OTHER_GROUP,
                "name": "elsewhere",
                "orgs": [
                    {
                        "id": ORG_ELSEWHERE,
                        "name": "elsewhere",
                        "integrations": [{"id": ELSEWHERE_GITHUB, "type": "github", "brokerEnabled": False}],
                    }
                ],
            },
        ],
        "apiKeys": [
            {"key": GROUP_KEY, "group": GROUP},
            {"key": TEAM_A_ONLY_KEY, "orgs": [ORG_TEAM_A]},
        ],
    }


class SimulatorAdmin:
    """The simulator's `/_sim/` admin API: state, calls served, faults, keys."""

    def __init__(self, admin_url: str) -> None:
        self._http = httpx.Client(base_url=admin_url, timeout=10)

    def close(self) -> None:
        self._http.close()

    def state(self) -> dict[str, Any]:
        response = self._http.get("/state")
        response.raise_for_status()
        return dict(response.json())

    def calls(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        calls = self.state()["calls"]
        return [c for c in calls if endpoint is None or c.get("endpoint") == endpoint]

    def integration(self, integration_id: str) -> dict[str, Any]:
        for item in self.state()["integrations"]:
            if item["id"] == integration_id:
                return dict(item)
        raise AssertionError(f"the simulator has no integration {integration_id}")

    def issued_tokens(self) -> list[str]:
        return [t["token"] for t in self.state()["issuedTokens"]]

    def fault(self, **fault: Any) -> None:
        self._http.post("/faults", json=fault).raise_for_status()

    def clear_faults(self) -> None:
        self._http.delete("/faults").raise_for_status()

    def revoke(self, key: str) -> None:
        self._http.post("/keys", json={"key": key, "revoked": True}).raise_for_status()

    def add_key(self, key: str, **access: Any) -> None:
        self._http.post("/keys", json={"key": key, **access}).raise_for_status()

"""Objects the API server must refuse (and a few it must accept), for the CRDs in crds/.

CEL rules cannot be evaluated in unit tests, so this table is data for a test against a real kube-apiserver
(create each object with the CRDs installed and expect the error to contain the substring). The unit tests in this
directory check the same objects against the pydantic models, which mirror every schema and CEL rule.

- ``INVALID_OBJECTS``: (sentence id, object, substring of the API server's error message).
- ``INVALID_UPDATES``: (sentence id, object as created, object as updated, substring of the error on update).
- ``VALID_OBJECTS``: (sentence id, object) that must be accepted, so the rules do not over-refuse.

Namespaced objects carry no namespace: create them in the test's namespace. Every row was checked once by hand
against kube-apiserver v1.37.2 with the CRDs in crds/ (create, and for updates replace).
"""

from __future__ import annotations

import copy
from typing import Any

API_VERSION = "snykbroker.dev/v1alpha1"
ORG = "0b6a3c1e-5d2f-4a8b-9c7d-1e2f3a4b5c6d"
OTHER_ORG = "7f3e2d1c-0b9a-4876-8543-210fedcba987"
INTEGRATION = "3c9d8e7f-6a5b-4c4d-8e3f-2a1b0c9d8e7f"

Object = dict[str, Any]


def _broker_token(name: str, **spec: Any) -> Object:
    base: Object = {
        "connectionRef": {"name": "snyk-eu"},
        "orgId": ORG,
        "integration": {"type": "github"},
        "source": {"provision": {}},
    }
    return {"apiVersion": API_VERSION, "kind": "BrokerToken", "metadata": {"name": name}, "spec": base | spec}


def _connection(name: str, kind: str = "SnykConnection", **spec: Any) -> Object:
    base: Object = {"region": "SNYK-EU-01", "apiTokenSecretRef": {"name": "snyk-api-token"}}
    merged = {key: value for key, value in (base | spec).items() if value is not None}
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": merged}


def _without(obj: Object, *path: str) -> Object:
    trimmed = copy.deepcopy(obj)
    parent = trimmed
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return trimmed


def _org(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012x}"


_PROVISION_AND_EXISTING = {"provision": {}, "existingSecretRef": {"name": "given-token"}}
_EXACTLY_ONE_SOURCE = "exactly one of spec.source.provision or spec.source.existingSecretRef must be set"
_EXACTLY_ONE_INTEGRATION = "exactly one of spec.integration.id or spec.integration.type must be set"
_EXACTLY_ONE_ENDPOINT = "exactly one of spec.region or spec.apiUrl must be set"
_HTTPS_ONLY = "spec.apiUrl must be an https:// URL"

INVALID_OBJECTS: list[tuple[str, Object, str]] = [
    (
        "a BrokerToken whose orgId is not a UUID is refused",
        _broker_token("bad-org-id", orgId="my-org"),
        "spec.orgId in body should match",
    ),
    (
        "a BrokerToken whose orgId is an uppercase UUID is refused",
        _broker_token("uppercase-org-id", orgId=ORG.upper()),
        "spec.orgId in body should match",
    ),
    (
        "a BrokerToken without an orgId is refused",
        _without(_broker_token("no-org-id"), "spec", "orgId"),
        "spec.orgId: Required value",
    ),
    (
        "a BrokerToken without a spec is refused",
        _without(_broker_token("no-spec"), "spec"),
        "spec: Required value",
    ),
    (
        "a BrokerToken without a connectionRef is refused",
        _without(_broker_token("no-connection-ref"), "spec", "connectionRef"),
        "spec.connectionRef: Required value",
    ),
    (
        "a BrokerToken whose connectionRef kind is unknown is refused",
        _broker_token("unknown-connection-kind", connectionRef={"kind": "SnykConnections", "name": "snyk-eu"}),
        'Unsupported value: "SnykConnections"',
    ),
    (
        "a BrokerToken whose integration id is not a UUID is refused",
        _broker_token("bad-integration-id", integration={"id": "42"}),
        "spec.integration.id in body should match",
    ),
    (
        "a BrokerToken with both an integration id and type is refused",
        _broker_token("integration-id-and-type", integration={"id": INTEGRATION, "type": "github"}),
        _EXACTLY_ONE_INTEGRATION,
    ),
    (
        "a BrokerToken with neither an integration id nor type is refused",
        _broker_token("integration-empty", integration={}),
        _EXACTLY_ONE_INTEGRATION,
    ),
    (
        "a BrokerToken with an unknown integration type is refused",
        _broker_token("unknown-integration-type", integration={"type": "github-com"}),
        'Unsupported value: "github-com"',
    ),
    (
        "a BrokerToken with both provision and existingSecretRef is refused",
        _broker_token("both-sources", source=_PROVISION_AND_EXISTING),
        _EXACTLY_ONE_SOURCE,
    ),
    (
        "a BrokerToken with neither provision nor existingSecretRef is refused",
        _broker_token("no-source", source={}),
        _EXACTLY_ONE_SOURCE,
    ),
    (
        "a BrokerToken whose existing Secret name is not a DNS-1123 subdomain is refused",
        _broker_token("bad-existing-secret-name", source={"existingSecretRef": {"name": "Given_Token"}}),
        "spec.source.existingSecretRef.name in body should match",
    ),
    (
        "a BrokerToken whose existing Secret key has a slash is refused",
        _broker_token(
            "bad-existing-secret-key", source={"existingSecretRef": {"name": "given-token", "key": "token/value"}}
        ),
        "spec.source.existingSecretRef.key in body should match",
    ),
    (
        "a BrokerToken whose Secret name has capitals and an underscore is refused",
        _broker_token("bad-secret-name", secret={"name": "Broker_Token"}),
        "spec.secret.name in body should match",
    ),
    (
        "a BrokerToken whose Secret key has a space is refused",
        _broker_token("bad-secret-key", secret={"key": "BROKER TOKEN"}),
        "spec.secret.key in body should match",
    ),
    (
        "a BrokerToken whose shareWith org is not a UUID is refused",
        _broker_token("bad-share-with-org", shareWith=[{"orgId": "second-org"}]),
        "spec.shareWith[0].orgId in body should match",
    ),
    (
        "a BrokerToken that shares with the same org twice is refused",
        _broker_token("duplicate-share-with", shareWith=[{"orgId": OTHER_ORG}, {"orgId": OTHER_ORG}]),
        "Duplicate value",
    ),
    (
        "a BrokerToken that shares with its own org is refused",
        _broker_token("share-with-own-org", shareWith=[{"orgId": OTHER_ORG}, {"orgId": ORG}]),
        "spec.shareWith must not list spec.orgId",
    ),
    (
        "a BrokerToken that shares with 51 orgs is refused",
        _broker_token("share-with-too-many", shareWith=[{"orgId": _org(i)} for i in range(51)]),
        "must have at most 50 items",
    ),
    (
        "a BrokerToken rotating every 90d (not a Go duration) is refused",
        _broker_token("rotation-in-days", rotation={"every": "90d"}),
        "spec.rotation.every in body should match",
    ),
    (
        "a BrokerToken rotating every 5s (under the 10s minimum) is refused",
        _broker_token("rotation-too-often", rotation={"every": "5s"}),
        "spec.rotation.every must be at least 10s",
    ),
    (
        "a BrokerToken with an unknown rotation strategy is refused",
        _broker_token("unknown-strategy", rotation={"every": "2160h", "strategy": "BlueGreen"}),
        'Unsupported value: "BlueGreen"',
    ),
    (
        "a BrokerToken with an unknown deletionPolicy is refused",
        _broker_token("unknown-deletion-policy", deletionPolicy="Orphan"),
        'Unsupported value: "Orphan"',
    ),
    (
        "a BrokerToken whose consumer selector has In without values is refused",
        _broker_token(
            "selector-in-without-values",
            consumers={"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
        ),
        "values must be non-empty when operator is In or NotIn",
    ),
    (
        "a BrokerToken whose consumer selector has an unknown operator is refused",
        _broker_token(
            "selector-unknown-operator",
            consumers={"selector": {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["a"]}]}},
        ),
        'Unsupported value: "Equals"',
    ),
    (
        "a SnykConnection with an unknown region is refused",
        _connection("unknown-region", region="SNYK-GOV-01"),
        'Unsupported value: "SNYK-GOV-01"',
    ),
    (
        "a SnykConnection with both a region and an apiUrl is refused",
        _connection("region-and-api-url", apiUrl="https://api.eu.snyk.io"),
        _EXACTLY_ONE_ENDPOINT,
    ),
    (
        "a SnykConnection with neither a region nor an apiUrl is refused",
        _connection("no-endpoint", region=None),
        _EXACTLY_ONE_ENDPOINT,
    ),
    (
        "a SnykConnection with a plain-http apiUrl on a public host is refused",
        _connection("http-api-url", region=None, apiUrl="http://api.snyk.io"),
        _HTTPS_ONLY,
    ),
    (
        "a SnykConnection with a plain-http apiUrl on LOCALHOST in capitals is refused",
        _connection("http-api-url-capital-localhost", region=None, apiUrl="http://LOCALHOST:8080"),
        _HTTPS_ONLY,
    ),
    (
        "a SnykConnection with an apiUrl that is not a URL is refused",
        _connection("api-url-not-url", region=None, apiUrl="api.snyk.io"),
        "spec.apiUrl in body should match",
    ),
    (
        "a SnykConnection whose API token Secret name is invalid is refused",
        _connection("bad-api-token-secret-name", apiTokenSecretRef={"name": "-snyk"}),
        "spec.apiTokenSecretRef.name in body should match",
    ),
    (
        "a SnykConnection whose API token key is invalid is refused",
        _connection("bad-api-token-key", apiTokenSecretRef={"name": "snyk-api-token", "key": "api token"}),
        "spec.apiTokenSecretRef.key in body should match",
    ),
    (
        "a SnykConnection with a budget of 0 requests per minute is refused",
        _connection("zero-requests-per-minute", requestBudget={"requestsPerMinute": 0}),
        "should be greater than or equal to 1",
    ),
    (
        "a SnykConnection with a budget over Snyk's 2000 requests per minute is refused",
        _connection("too-many-requests-per-minute", requestBudget={"requestsPerMinute": 5000}),
        "should be less than or equal to 2000",
    ),
    (
        "a SnykConnection whose request budget is a string of digits is refused, not coerced",
        _connection("string-requests-per-minute", requestBudget={"requestsPerMinute": "600"}),
        "spec.requestBudget.requestsPerMinute in body must be of type integer",
    ),
    (
        "a SnykConnection with a concurrency of 65 is refused",
        _connection("too-much-concurrency", requestBudget={"maxConcurrency": 65}),
        "should be less than or equal to 64",
    ),
    (
        "a ClusterSnykConnection with a plain-http apiUrl on a private address is refused",
        _connection("cluster-http-api-url", kind="ClusterSnykConnection", region=None, apiUrl="http://10.0.0.1:8080"),
        _HTTPS_ONLY,
    ),
    (
        "a ClusterSnykConnection without an apiTokenSecretRef is refused",
        _connection("cluster-no-secret", kind="ClusterSnykConnection", apiTokenSecretRef=None),
        "spec.apiTokenSecretRef: Required value",
    ),
]

INVALID_UPDATES: list[tuple[str, Object, Object, str]] = [
    (
        "changing the orgId of a BrokerToken is refused",
        _broker_token("org-id-change"),
        _broker_token("org-id-change", orgId=OTHER_ORG),
        "spec.orgId is immutable",
    ),
]

VALID_OBJECTS: list[tuple[str, Object]] = [
    (
        "a BrokerToken rotating every 10s (the minimum) is accepted",
        _broker_token("rotation-minimum", rotation={"every": "10s"}),
    ),
    (
        "a BrokerToken rotating every 1h30m with InPlace is accepted",
        _broker_token("rotation-hours-minutes", rotation={"every": "1h30m", "strategy": "InPlace"}),
    ),
    (
        "a BrokerToken with a strategy and no schedule is accepted",
        _broker_token("rotation-on-request", rotation={"strategy": "InPlace"}),
    ),
    (
        "a BrokerToken by integration id from an existing Secret with the default key is accepted",
        _broker_token(
            "existing-secret-default-key",
            integration={"id": INTEGRATION},
            source={"existingSecretRef": {"name": "given-token"}},
        ),
    ),
    (
        "a BrokerToken sharing with 50 orgs is accepted",
        _broker_token("share-with-fifty", shareWith=[{"orgId": _org(i)} for i in range(50)]),
    ),
    (
        "a BrokerToken with Exists and NotIn selector requirements is accepted",
        _broker_token(
            "selector-exists-not-in",
            consumers={
                "selector": {
                    "matchLabels": {"app.kubernetes.io/name": "snyk-broker"},
                    "matchExpressions": [
                        {"key": "snykbroker.dev/consumer", "operator": "Exists"},
                        {"key": "tier", "operator": "NotIn", "values": ["canary"]},
                    ],
                }
            },
        ),
    ),
    (
        "a BrokerToken using a ClusterSnykConnection, with every optional field, is accepted",
        _broker_token(
            "every-field",
            connectionRef={"kind": "ClusterSnykConnection", "name": "snyk-us"},
            shareWith=[{"orgId": OTHER_ORG}],
            secret={"name": "broker-token", "key": "BROKER_TOKEN", "labels": {"a": "b"}, "annotations": {"c": "d"}},
            consumers={"selector": {}},
            rotation={"every": "2160h", "strategy": "Bridge"},
            deletionPolicy="Delete",
        ),
    ),
    (
        "a SnykConnection to the simulator on http://127.0.0.1 is accepted",
        _connection("simulator-ipv4", region=None, apiUrl="http://127.0.0.1:8080"),
    ),
    (
        "a SnykConnection to http://localhost with a trailing slash is accepted",
        _connection("simulator-localhost", region=None, apiUrl="http://localhost:8080/"),
    ),
    (
        "a SnykConnection to an https host written in capitals is accepted",
        _connection("https-capitals", region=None, apiUrl="https://API.EU.SNYK.IO"),
    ),
    (
        "a SnykConnection to http://[::1] is accepted",
        _connection("simulator-ipv6", region=None, apiUrl="http://[::1]:9000"),
    ),
    (
        "a ClusterSnykConnection through an https proxy path with a full budget is accepted",
        _connection(
            "cluster-proxy",
            kind="ClusterSnykConnection",
            region=None,
            apiUrl="https://proxy.example.com/snyk",
            requestBudget={"requestsPerMinute": 2000, "maxConcurrency": 64},
        ),
    ),
]

"""The CRD schema (with its CEL rules) and the pydantic models are two readings of one API: they must agree.

Hypothesis draws BrokerTokens, SnykConnections and ClusterSnykConnections that follow the schema, then breaks some
of them on purpose with one or two mutations from a catalogue (wrong types, unknown fields, missing fields, boundary
lengths, counts and durations, unicode, empty strings, duplicates, the cross-field rules). Each object is judged by
the API server (a server-side dry-run on the local cluster, many in flight at once) and by the models: the verdicts
must be the same for every object, and the pure decisions must not raise on any BrokerToken the API server accepts.

The objects are drawn first and judged afterwards, because a dry-run per Hypothesis example would be sequential and
a Hypothesis example holding hundreds of objects overflows its buffer. A disagreement is reported with the object.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from snyk_broker_operator import reconcile
from snyk_broker_operator.models import BrokerToken, ClusterSnykConnection, SnykConnection
from snyk_broker_operator.models.brokertoken import MAX_SHARE_WITH, MIN_ROTATION_INTERVAL
from snyk_broker_operator.models.common import MAX_LABEL_SELECTOR_EXPRESSIONS, parse_go_duration
from snyk_broker_operator.models.enums import (
    ConnectionKind,
    DeletionPolicy,
    IntegrationType,
    LabelSelectorOperator,
    Region,
    RotationStrategy,
)
from snyk_broker_operator.models.group import (
    BROKER_TOKEN_PLURAL,
    CLUSTER_SNYK_CONNECTION_PLURAL,
    GROUP,
    SNYK_CONNECTION_PLURAL,
    VERSION,
)
from snyk_broker_operator.reconcile import Observed, SecretState

# The issue asks for at least 10,000; drawing them takes about a minute on two cores.
OBJECTS = 10_000
DRY_RUNS_IN_FLIGHT = 8
Object = dict[str, Any]
Mutation = Callable[[Object], Object]
MODELS: dict[str, type[pydantic.BaseModel]] = {
    "BrokerToken": BrokerToken,
    "SnykConnection": SnykConnection,
    "ClusterSnykConnection": ClusterSnykConnection,
}
PLURALS = {"BrokerToken": BROKER_TOKEN_PLURAL, "SnykConnection": SNYK_CONNECTION_PLURAL}
NOW = datetime(2026, 12, 1, tzinfo=UTC)
ABSENT = object()  # a mutation value meaning "delete the field"

# --- values that follow the schema, boundaries included ---
uuids = st.uuids(version=4).map(str)
kube_names = st.one_of(
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]{1,5})?", fullmatch=True),
    st.sampled_from(["a", "a" * 253, "a." * 126 + "b"]),  # the shortest, and the longest a subdomain may be
)
secret_keys = st.one_of(st.from_regex(r"[-._a-zA-Z0-9]{1,20}", fullmatch=True), st.just("k" * 253))
label_values = st.from_regex(r"([a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?)?", fullmatch=True)


def go_duration(hours: int, minutes: int, seconds: int) -> str:
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{seconds}s" if seconds else "")
    return text or "0s"


def long_enough(text: str) -> bool:
    return parse_go_duration(text) >= MIN_ROTATION_INTERVAL


durations = st.one_of(
    st.sampled_from(["10s", "2160h", "1h30m", "999999h", "9999999m", "99999999s"]),
    st.builds(go_duration, st.integers(0, 999_999), st.integers(0, 9_999_999), st.integers(0, 99_999_999)).filter(
        long_enough
    ),
)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Object]:
    """A dict with any subset of `fields` (each absent, or one of its values)."""
    return st.fixed_dictionaries({}, optional=fields)


requirements: st.SearchStrategy[Object] = st.one_of(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(["app", "tier", "k" * 317]),
            "operator": st.sampled_from([LabelSelectorOperator.IN.value, LabelSelectorOperator.NOT_IN.value]),
            "values": st.lists(label_values, min_size=1, max_size=3),
        }
    ),
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(["app", "tier"]),
            "operator": st.sampled_from(
                [LabelSelectorOperator.EXISTS.value, LabelSelectorOperator.DOES_NOT_EXIST.value]
            ),
        },
        optional={"values": st.just([])},
    ),
)


@st.composite
def broker_tokens(draw: st.DrawFn) -> Object:
    org_id = draw(uuids)
    spec: Object = {
        "connectionRef": draw(
            st.fixed_dictionaries(
                {"name": kube_names}, optional={"kind": st.sampled_from([kind.value for kind in ConnectionKind])}
            )
        ),
        "orgId": org_id,
        "integration": draw(
            st.one_of(
                uuids.map(lambda id_: {"id": id_}),
                st.sampled_from([kind.value for kind in IntegrationType]).map(lambda type_: {"type": type_}),
            )
        ),
        "source": draw(
            st.one_of(
                st.just({"provision": {}}),
                st.fixed_dictionaries({"name": kube_names}, optional={"key": secret_keys}).map(
                    lambda ref: {"existingSecretRef": ref}
                ),
            )
        ),
    }
    spec |= draw(
        optional(
            shareWith=st.lists(uuids.filter(lambda other: other != org_id), max_size=MAX_SHARE_WITH, unique=True).map(
                lambda ids: [{"orgId": id_} for id_ in ids]
            ),
            secret=optional(
                name=kube_names,
                key=secret_keys,
                labels=st.dictionaries(st.sampled_from(["team", "example.com/owner"]), label_values, max_size=2),
                annotations=st.dictionaries(st.sampled_from(["note", "example.com/ü"]), st.text(max_size=8)),
            ),
            consumers=optional(
                selector=optional(
                    matchLabels=st.dictionaries(st.sampled_from(["app", "tier"]), label_values, max_size=2),
                    matchExpressions=st.lists(requirements, max_size=MAX_LABEL_SELECTOR_EXPRESSIONS),
                )
            ),
            rotation=optional(every=durations, strategy=st.sampled_from([s.value for s in RotationStrategy])),
            deletionPolicy=st.sampled_from([policy.value for policy in DeletionPolicy]),
        )
    )
    return document("BrokerToken", spec)


def connections(kind: str) -> st.SearchStrategy[Object]:
    where = st.one_of(
        st.sampled_from([region.value for region in Region]).map(lambda region: {"region": region}),
        st.sampled_from(
            [
                "https://api.snyk.io",
                "https://api.eu.snyk.io/",
                "https://snyk.example.com/api/v1",
                "http://127.0.0.1:8080",
                "http://localhost:9",
                "http://[::1]:8080",
                "https://" + "a" * 504,
            ]
        ).map(lambda url: {"apiUrl": url}),
    )
    rest = st.fixed_dictionaries(
        {"apiTokenSecretRef": st.fixed_dictionaries({"name": kube_names}, optional={"key": secret_keys})},
        optional={
            "requestBudget": optional(
                requestsPerMinute=st.sampled_from([1, 600, 2000]) | st.integers(1, 2000),
                maxConcurrency=st.sampled_from([1, 64]) | st.integers(1, 64),
            )
        },
    )
    return st.builds(lambda a, b: document(kind, a | b), where, rest)


def document(kind: str, spec: Object) -> Object:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "x"}, "spec": spec}


# --- mutations: each breaks (or, now and then by chance, keeps) one thing the schema says ---
def set_at(path: tuple[str, ...], value: Any, obj: Object) -> Object:
    """A copy of `obj` with the field at `path` set to `value` (or removed, for ABSENT); parents are created."""
    result = copy.deepcopy(obj)
    parent = result
    for step in path[:-1]:
        if not isinstance(parent.get(step), dict):
            parent[step] = {}
        parent = parent[step]
    if value is ABSENT:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return result


def setting(path: tuple[str, ...], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Mutation]:
    return values.map(lambda value: partial(set_at, path, value))


wrong_types = st.one_of(st.integers(-2, 10**6), st.booleans(), st.none(), st.lists(st.integers(), max_size=2))
odd_names = st.one_of(
    st.sampled_from(["", " ", "UPPER", "under_score", "-lead", "trail-", "a" * 254, "a..b", "ü", "snyk😀"]),
    st.text(max_size=12),
)
not_uuids = st.one_of(
    st.sampled_from(["", "not-a-uuid", "0B6A3C1E-5D2F-4A8B-9C7D-1E2F3A4B5C6D", "0b6a3c1e5d2f4a8b9c7d1e2f3a4b5c6d"]),
    uuids.map(lambda id_: id_ + "0"),
)
odd_durations = st.one_of(
    st.sampled_from(["9s", "9.9s", "0s", "-1h", "1d", "1.5h", "", "h", "1m ", "1s1h", "1000000h", "1234567890s"]),
    st.integers(0, 9).map(lambda n: f"{n}s"),
    st.text(max_size=6),
)
odd_keys = st.one_of(st.sampled_from(["", "a/b", "x" * 254, "ü", "a b"]), st.text(max_size=8))
unknown_field = st.sampled_from(["unknownField", "orgID", "Spec", "provisioned"])


def own_org_shared(obj: Object) -> Object:
    return set_at(("spec", "shareWith"), [{"orgId": obj["spec"]["orgId"]}], obj)


def duplicate_share(obj: Object) -> Object:
    other = {"orgId": "0b6a3c1e-5d2f-4a8b-9c7d-1e2f3a4b5c6d"}
    return set_at(("spec", "shareWith"), [other, dict(other)], obj)


def spec_mutations(required: tuple[str, ...]) -> list[st.SearchStrategy[Mutation]]:
    """What breaks any spec: unknown fields, missing required fields, wrong types for them."""
    return [
        st.builds(lambda name: partial(set_at, ("spec", name), "x"), unknown_field),
        st.sampled_from(required).map(lambda name: partial(set_at, ("spec", name), ABSENT)),
        st.tuples(st.sampled_from(required), wrong_types).map(lambda nv: partial(set_at, ("spec", nv[0]), nv[1])),
        st.just(partial(set_at, ("spec",), ABSENT)),
    ]


broker_token_mutations = st.one_of(
    *spec_mutations(("connectionRef", "orgId", "integration", "source")),
    setting(("spec", "connectionRef", "name"), st.one_of(odd_names, st.just(ABSENT), wrong_types)),
    setting(("spec", "connectionRef", "kind"), st.sampled_from(["Other", "", "snykconnection"])),
    setting(("spec", "connectionRef", "extra"), st.just("x")),
    setting(("spec", "orgId"), not_uuids),
    setting(
        ("spec", "integration"), st.sampled_from([{}, {"id": "0b6a3c1e-5d2f-4a8b-9c7d-1e2f3a4b5c6d", "type": "github"}])
    ),
    setting(("spec", "integration", "type"), st.sampled_from(["", "GITHUB", "svn", "git hub"])),
    setting(("spec", "integration", "id"), not_uuids),
    setting(("spec", "source"), st.sampled_from([{}, {"provision": {}, "existingSecretRef": {"name": "a"}}])),
    setting(("spec", "source", "provision"), st.sampled_from([{"now": True}, "yes", []])),
    setting(("spec", "source", "existingSecretRef", "key"), odd_keys),
    setting(("spec", "shareWith"), st.one_of(wrong_types, st.just([{"orgId": "x"}]), st.just([{}]))),
    setting(
        ("spec", "shareWith"),
        st.lists(uuids, min_size=MAX_SHARE_WITH + 1, max_size=MAX_SHARE_WITH + 1, unique=True).map(
            lambda ids: [{"orgId": id_} for id_ in ids]
        ),
    ),
    st.just(own_org_shared),
    st.just(duplicate_share),
    setting(("spec", "secret", "name"), odd_names),
    setting(("spec", "secret", "key"), odd_keys),
    setting(("spec", "secret", "labels"), st.one_of(wrong_types, st.just({"team": 1}))),
    setting(
        ("spec", "consumers", "selector", "matchExpressions"),
        st.sampled_from(
            [
                [{"key": "app", "operator": "In"}],
                [{"key": "app", "operator": "In", "values": []}],
                [{"key": "app", "operator": "Exists", "values": ["a"]}],
                [{"key": "app", "operator": "Bogus", "values": ["a"]}],
                [{"key": "", "operator": "Exists"}],
                [{"key": "k" * 318, "operator": "Exists"}],
                [{"key": "app", "operator": "In", "values": ["v" * 64]}],
                [{"key": "app", "operator": "Exists"}] * (MAX_LABEL_SELECTOR_EXPRESSIONS + 1),
            ]
        ),
    ),
    setting(("spec", "consumers", "selector"), st.one_of(wrong_types, st.just({"matchFields": {}}))),
    setting(("spec", "rotation", "every"), st.one_of(odd_durations, wrong_types)),
    setting(("spec", "rotation", "strategy"), st.sampled_from(["Other", "", "bridge"])),
    setting(("spec", "deletionPolicy"), st.sampled_from(["Orphan", "", "retain", "Delete "])),
)

connection_mutations = st.one_of(
    *spec_mutations(("apiTokenSecretRef",)),
    setting(("spec", "region"), st.sampled_from(["SNYK-XX-01", "", "snyk-us-01"])),
    setting(
        ("spec", "apiUrl"),
        st.one_of(
            st.sampled_from(
                [
                    "http://api.snyk.io",
                    "ftp://api.snyk.io",
                    "https://",
                    "",
                    "snyk.io",
                    "https://snyk.io/ü",
                    "https://a b",
                    "https://user@snyk.io",
                    "http://127.0.0.1.example.com",
                    "https://" + "a" * 505,
                ]
            ),
            st.text(max_size=10),
        ),
    ),
    st.just(partial(set_at, ("spec", "region"), "SNYK-EU-01")),  # both region and apiUrl, or a region again
    st.just(partial(set_at, ("spec", "apiUrl"), "https://api.snyk.io")),
    st.sampled_from([("spec", "region"), ("spec", "apiUrl")]).map(lambda path: partial(set_at, path, ABSENT)),
    setting(("spec", "apiTokenSecretRef", "name"), st.one_of(odd_names, st.just(ABSENT))),
    setting(("spec", "apiTokenSecretRef", "key"), odd_keys),
    setting(("spec", "requestBudget", "requestsPerMinute"), st.sampled_from([0, -1, 2001, 10**9, "600", 1.5])),
    setting(("spec", "requestBudget", "maxConcurrency"), st.sampled_from([0, -1, 65, "4", 2.5])),
)


def mutated(objects: st.SearchStrategy[Object], mutations: st.SearchStrategy[Mutation]) -> st.SearchStrategy[Object]:
    """As drawn (about two in five), or with one or two mutations applied."""

    def apply(obj: Object, chosen: list[Mutation]) -> Object:
        for mutation in chosen:
            obj = mutation(obj)
        return obj

    how_many = st.sampled_from([0, 0, 1, 1, 1, 2])
    return st.builds(apply, objects, how_many.flatmap(lambda n: st.lists(mutations, min_size=n, max_size=n)))


objects = st.one_of(
    mutated(broker_tokens(), broker_token_mutations),
    mutated(broker_tokens(), broker_token_mutations),
    mutated(connections("SnykConnection"), connection_mutations),
    mutated(connections("ClusterSnykConnection"), connection_mutations),
)


def api_server_accepts(api: client.CustomObjectsApi, namespace: str, obj: Object) -> bool:
    """The verdict `kubectl apply` meets: strict field validation (kubectl's default), so an unknown field is
    refused rather than silently pruned, as the models refuse it."""
    body = copy.deepcopy(obj)
    body["metadata"]["name"] = f"p-{secrets.token_hex(6)}"
    try:
        if obj["kind"] == "ClusterSnykConnection":
            api.create_cluster_custom_object(
                GROUP, VERSION, CLUSTER_SNYK_CONNECTION_PLURAL, body, dry_run="All", field_validation="Strict"
            )
        else:
            api.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[obj["kind"]], body, dry_run="All", field_validation="Strict"
            )
    except ApiException as error:
        if error.status in (400, 422):
            return False
        raise
    return True


def with_metadata(obj: Object) -> Object:
    return {**obj, "metadata": {"name": "x", "namespace": "ns", "uid": "u", "generation": 1}}


def models_accept(obj: Object) -> bool:
    try:
        MODELS[obj["kind"]].model_validate(with_metadata(obj))
    except pydantic.ValidationError:
        return False
    return True


def decide_on(obj: Object) -> None:
    """The pure decisions on an accepted BrokerToken, from scratch: they must not raise."""
    desired = reconcile.from_resource(BrokerToken.model_validate(with_metadata(obj)))
    reconcile.first_status(desired, now=NOW)
    absent = SecretState.absent()
    reconcile.decide(desired, Observed(custody=None, consumer=absent, source=absent), now=NOW)


def draw_objects(count: int) -> list[Object]:
    drawn: list[Object] = []

    @settings(
        max_examples=count,
        phases=[Phase.generate],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(objects)
    def collect(obj: Object) -> None:
        drawn.append(obj)

    collect()
    return drawn


@pytest.fixture(scope="module")
def dry_run_namespace(kube_api: client.ApiClient, crds_installed: None) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    name = f"t-agreement-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.mark.slow
def test_the_api_server_and_the_models_give_the_same_verdict_on_every_object(
    kube_api: client.ApiClient, dry_run_namespace: str
) -> None:
    drawn = draw_objects(OBJECTS)
    api = client.CustomObjectsApi(kube_api)
    with ThreadPoolExecutor(max_workers=DRY_RUNS_IN_FLIGHT) as pool:
        verdicts = list(pool.map(lambda obj: api_server_accepts(api, dry_run_namespace, obj), drawn))

    disagreements = [(obj, server) for obj, server in zip(drawn, verdicts, strict=True) if models_accept(obj) != server]
    assert not disagreements, (
        f"{len(disagreements)} disagreements; the first: the API server said accepted={disagreements[0][1]}, "
        f"the models the opposite, for {disagreements[0][0]}"
    )
    accepted = [obj for obj, server in zip(drawn, verdicts, strict=True) if server]
    for obj in accepted:
        if obj["kind"] == "BrokerToken":
            decide_on(obj)
    assert len(drawn) >= OBJECTS
    # Both verdicts were exercised in earnest, for every kind.
    for kind in MODELS:
        of_kind = [server for obj, server in zip(drawn, verdicts, strict=True) if obj["kind"] == kind]
        assert sum(of_kind) > len(of_kind) / 5 and of_kind.count(False) > len(of_kind) / 5, (kind, len(of_kind))

"""The simulator's in-memory world: groups, orgs, integrations, API keys, issued tokens and the call log.

Built from a :class:`.seed.Seed`; mutated only by :mod:`.operations` (the v1 semantics) and by the admin
routes in :mod:`.admin`; :mod:`.views` renders it for ``/_sim/state``. Pure Python with an injected random
generator and clock, so it is unit-testable and deterministic under ``--random-seed``. Tokens are kept in
clear here on purpose: the admin API reports them so tests can compare them with what the operator stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from snyk_broker_operator.simulator import errors, integration_settings, seed
from snyk_broker_operator.simulator.names import EndpointName, TokenKind, TokenOrigin

Clock = Callable[[], datetime]

# Fixed namespace so a key's user id is stable across runs without consuming the token generator.
_USER_ID_NAMESPACE = uuid.UUID("5f1d6a4e-3c1b-4c59-9a57-8f0e6f3d2b10")

# Derived emails live under .invalid, the top-level domain reserved never to resolve (RFC 2606): a simulated user
# must not look like a mailbox someone owns.
DERIVED_EMAIL_DOMAIN = "simulator.invalid"
_MAILBOX_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def fingerprint(secret: str) -> str:
    """``sha256:`` + the first 12 hex digits of sha256(secret): safe to log, enough to tell secrets apart."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def utc_now() -> datetime:
    return datetime.now(UTC)


def derived_email(username: str, key_fingerprint: str) -> str:
    """A key's email when the seed gives none: its username, if a plain mailbox name, at the reserved domain."""
    local_part = (
        username if _MAILBOX_NAME.match(username) else "simulated-user-" + key_fingerprint.removeprefix("sha256:")[:8]
    )
    return f"{local_part}@{DERIVED_EMAIL_DOMAIN}"


@dataclasses.dataclass(frozen=True)
class Group:
    id: str
    name: str


@dataclasses.dataclass(frozen=True)
class Org:
    id: str
    name: str
    group_id: str
    slug: str


@dataclasses.dataclass
class Integration:
    id: str
    type: str
    org_id: str
    group_id: str
    broker_enabled: bool
    token: str | None = dataclasses.field(default=None, repr=False)
    provisional_token: str | None = dataclasses.field(default=None, repr=False)
    # The integration's PR and upgrade settings, as GET .../settings returns them (Snyk's camelCase JSON).
    settings: dict[str, Any] = dataclasses.field(default_factory=integration_settings.default_settings)


@dataclasses.dataclass
class ApiKeyRecord:
    """What the simulator knows about one API key; the key itself is only the lookup key in :class:`World`."""

    fingerprint: str
    user_id: str
    username: str
    email: str
    group_id: str | None
    org_ids: tuple[str, ...] | None
    revoked: bool = False


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    token: str = dataclasses.field(repr=False)
    kind: TokenKind
    integration_id: str
    org_id: str
    issued_at: datetime
    origin: TokenOrigin


@dataclasses.dataclass(frozen=True)
class CallRecord:
    index: int
    method: str
    path: str
    endpoint: EndpointName
    status: int | None  # None: no response was sent (a hang or timeout fault)
    key_fingerprint: str | None
    time: datetime
    fault: str | None = None


class World:
    """All mutable simulator state; one instance per running simulator."""

    def __init__(self, *, rng: random.Random, clock: Clock = utc_now) -> None:
        self._rng = rng
        self._clock = clock
        self.groups: dict[str, Group] = {}
        self.orgs: dict[str, Org] = {}
        self.integrations: dict[str, Integration] = {}
        self._keys: dict[str, ApiKeyRecord] = {}
        self.issued: list[IssuedToken] = []
        self.calls: list[CallRecord] = []
        self._next_call_index = 0

    @classmethod
    def from_seed(cls, seed_doc: seed.Seed, *, rng: random.Random, clock: Clock = utc_now) -> World:
        world = cls(rng=rng, clock=clock)
        slugs = seed_doc.org_slugs()
        for seed_group in seed_doc.groups:
            group = Group(id=str(seed_group.id), name=seed_group.name)
            world.groups[group.id] = group
            for seed_org in seed_group.orgs:
                org = Org(id=str(seed_org.id), name=seed_org.name, group_id=group.id, slug=slugs[seed_org.id])
                world.orgs[org.id] = org
                for seed_integration in seed_org.integrations:
                    world._add_seed_integration(seed_integration, org)
        for seed_key in seed_doc.api_keys:
            world.add_key(
                seed_key.key,
                group_id=None if seed_key.group is None else str(seed_key.group),
                org_ids=None if seed_key.orgs is None else [str(org_id) for org_id in seed_key.orgs],
                username=seed_key.username,
                email=seed_key.email,
            )
        return world

    def _add_seed_integration(self, seed_integration: seed.SeedIntegration, org: Org) -> None:
        integration = Integration(
            id=str(seed_integration.id),
            type=seed_integration.type,
            org_id=org.id,
            group_id=org.group_id,
            broker_enabled=seed_integration.is_brokered,
        )
        self.integrations[integration.id] = integration
        if seed_integration.broker_token is not None:
            integration.token = str(seed_integration.broker_token)
            self._record_issue(integration.token, TokenKind.BROKER, integration, TokenOrigin.SEED)
        elif integration.broker_enabled:
            # A brokered integration always has a token in Snyk, so a seed that omits it gets a fresh one.
            integration.token = self.issue_token(TokenKind.BROKER, integration, origin=TokenOrigin.SEED)

    # Identifiers and tokens

    def new_uuid(self) -> str:
        """A UUIDv4 from the world's generator (reproducible when the generator is seeded)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def issue_token(self, kind: TokenKind, integration: Integration, *, origin: TokenOrigin) -> str:
        token = self.new_uuid()
        self._record_issue(token, kind, integration, origin)
        return token

    def _record_issue(self, token: str, kind: TokenKind, integration: Integration, origin: TokenOrigin) -> None:
        self.issued.append(
            IssuedToken(
                token=token,
                kind=kind,
                integration_id=integration.id,
                org_id=integration.org_id,
                issued_at=self._clock(),
                origin=origin,
            )
        )

    # Lookups (raising the v1 404s)

    def org(self, org_id: str) -> Org:
        found = self.orgs.get(org_id)
        if found is None:
            raise errors.V1Error(HTTPStatus.NOT_FOUND, f"Org {org_id} not found")
        return found

    def integration(self, org: Org, integration_id: str) -> Integration:
        found = self.integrations.get(integration_id)
        if found is None or found.org_id != org.id:
            raise errors.V1Error(HTTPStatus.NOT_FOUND, f"Integration {integration_id} not found in org {org.id}")
        return found

    def integration_of_type(self, org_id: str, integration_type: str) -> Integration | None:
        """The org's integration of that type, if any: Snyk allows one per type and org."""
        for integration in self.integrations_of_org(org_id):
            if integration.type == integration_type:
                return integration
        return None

    def integrations_of_org(self, org_id: str) -> list[Integration]:
        return [integration for integration in self.integrations.values() if integration.org_id == org_id]

    def integrations_of_group(self, group_id: str) -> list[Integration]:
        return [integration for integration in self.integrations.values() if integration.group_id == group_id]

    def orgs_of_group(self, group_id: str) -> list[Org]:
        return [org for org in self.orgs.values() if org.group_id == group_id]

    # API keys

    def add_key(
        self,
        key: str,
        *,
        group_id: str | None = None,
        org_ids: Iterable[str] | None = None,
        username: str | None = None,
        email: str | None = None,
    ) -> ApiKeyRecord:
        """Add (or replace, un-revoking) a key scoped to one group or to a list of orgs."""
        if (group_id is None) == (org_ids is None):
            raise ValueError("an API key needs exactly one of group or orgs")
        key_fingerprint = fingerprint(key)
        username = username or f"simulated-user-{key_fingerprint.removeprefix('sha256:')[:8]}"
        record = ApiKeyRecord(
            fingerprint=key_fingerprint,
            user_id=str(uuid.uuid5(_USER_ID_NAMESPACE, key_fingerprint)),
            username=username,
            email=email or derived_email(username, key_fingerprint),
            group_id=group_id,
            org_ids=None if org_ids is None else tuple(org_ids),
        )
        self._keys[key] = record
        return record

    def revoke_key(self, key: str) -> ApiKeyRecord:
        record = self._keys.get(key)
        if record is None:
            raise KeyError("no such API key")
        record.revoked = True
        return record

    def authenticate(self, key: str | None) -> ApiKeyRecord:
        """The record for a usable key; Snyk's 401 for a missing, unknown or revoked one."""
        record = None if key is None else self._keys.get(key)
        if record is None or record.revoked:
            raise errors.not_authorised()
        return record

    def can_access(self, record: ApiKeyRecord, org: Org) -> bool:
        if record.group_id is not None:
            return org.group_id == record.group_id
        return org.id in (record.org_ids or ())

    def require_access(self, record: ApiKeyRecord, org: Org) -> None:
        if not self.can_access(record, org):
            raise errors.V1Error(HTTPStatus.FORBIDDEN, f"The API key has no access to org {org.id}")

    def accessible_orgs(self, record: ApiKeyRecord) -> list[Org]:
        return [org for org in self.orgs.values() if self.can_access(record, org)]

    def key_records(self) -> list[ApiKeyRecord]:
        return list(self._keys.values())

    # Call log

    def record_call(
        self,
        *,
        method: str,
        path: str,
        endpoint: EndpointName,
        status: int | None,
        key: str | None,
        fault: str | None = None,
    ) -> CallRecord:
        """Append one served request; the key is stored only as its fingerprint."""
        record = CallRecord(
            index=self._next_call_index,
            method=method,
            path=path,
            endpoint=endpoint,
            status=status,
            key_fingerprint=None if key is None else fingerprint(key),
            time=self._clock(),
            fault=fault,
        )
        # The index never restarts, not even after reset_calls, so it orders calls across test phases.
        self._next_call_index += 1
        self.calls.append(record)
        return record

    def reset_calls(self) -> int:
        cleared = len(self.calls)
        self.calls.clear()
        return cleared

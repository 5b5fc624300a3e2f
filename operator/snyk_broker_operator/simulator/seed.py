"""The simulator's seed file: its typed model, validation, and loading from YAML.

A seed describes the starting world (groups, orgs, integrations, API keys); :mod:`.state` builds the live
world from it. Every mistake in a seed is reported as one :class:`SeedError` whose message lists each problem
with its location (``groups[0].orgs[1].id: ...``), so a demo author can fix the file without reading code.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic.alias_generators import to_camel

DEFAULT_RATE_LIMIT_PER_MINUTE = 2000
"""Snyk's documented default v1 limit per API key."""

EXAMPLE_SEED_NAME = "example-seed.yaml"
DEMO_SEED_NAME = "demo-seed.yaml"

# The v1 IntegrationType enum, plus the brokerable types Snyk's own tools and the broker client know
# (reference/snyk-broker-api.md section 7). A typo such as "githb" in a seed is an error, not a new type.
KNOWN_INTEGRATION_TYPES = frozenset(
    {
        "acr",
        "apprisk",
        "artifactory",
        "artifactory-cr",
        "azure-repos",
        "bitbucket-cloud",
        "bitbucket-server",
        "bitbucket-server-bearer-auth",
        "digitalocean-cr",
        "docker-hub",
        "ecr",
        "gcr",
        "github",
        "github-cloud-app",
        "github-cr",
        "github-enterprise",
        "github-server-app",
        "gitlab",
        "gitlab-cr",
        "google-artifact-cr",
        "harbor-cr",
        "jira",
        "nexus",
        "nexus-cr",
        "quay-cr",
    }
)


# Snyk's REST API documents org slugs as matching this pattern, at most 100 characters (the v1 API shows the same
# slugs). A seed's explicit slug must fit them; a derived one always does.
SLUG_PATTERN = r"^[\w.-]+$"
SLUG_MAX_LENGTH = 100

# A loose shape check for a seeded user email: something@something, no spaces. It catches a key pasted into the
# wrong field; the simulator never sends mail.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"


def derive_slug(name: str, org_id: uuid.UUID) -> str:
    """The slug of an org whose seed gives none: its name in kebab case, as Snyk's examples show.

    Snyk's documented examples pair "My Other Org" with ``my-other-org`` and "defaultOrg" with ``default-org``, so
    word boundaries, including a lower-to-upper case change, become single hyphens (Snyk does not document its
    rule; this one reproduces its examples). A name with no letters or digits falls back to ``org-`` and the start
    of the org id, so every org has a usable slug.
    """
    # Accents are dropped rather than the letters they sit on, so "Équipe" gives "equipe", not "quipe".
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+|[0-9]+", ascii_name)
    slug = "-".join(word.lower() for word in words)[:SLUG_MAX_LENGTH].strip("-")
    return slug or f"org-{org_id.hex[:8]}"


class SeedError(ValueError):
    """A seed file that cannot be used; the message says what is wrong and where."""


class _SeedModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class SeedIntegration(_SeedModel):
    id: uuid.UUID
    type: str
    broker_enabled: bool | None = None
    # A seed token is simulator test data, so it is a plain UUID; repr=False keeps it out of reprs all the same.
    broker_token: uuid.UUID | None = pydantic.Field(default=None, repr=False)

    @pydantic.field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in KNOWN_INTEGRATION_TYPES:
            raise ValueError(f"unknown integration type {value!r}; known: {', '.join(sorted(KNOWN_INTEGRATION_TYPES))}")
        return value

    @pydantic.model_validator(mode="after")
    def _token_implies_broker(self) -> SeedIntegration:
        if self.broker_token is not None and self.broker_enabled is False:
            raise ValueError("brokerToken is set but brokerEnabled is false; a broker token implies brokerEnabled")
        return self

    @property
    def is_brokered(self) -> bool:
        return bool(self.broker_enabled) or self.broker_token is not None


class SeedOrg(_SeedModel):
    id: uuid.UUID
    name: str = pydantic.Field(min_length=1)
    # Optional: the org's URL name in GET /orgs. Without it, one is derived from the name (see Seed.org_slugs).
    slug: str | None = pydantic.Field(default=None, pattern=SLUG_PATTERN, max_length=SLUG_MAX_LENGTH)
    integrations: tuple[SeedIntegration, ...] = ()

    @pydantic.model_validator(mode="after")
    def _one_integration_per_type(self) -> SeedOrg:
        seen: set[str] = set()
        for integration in self.integrations:
            if integration.type in seen:
                raise ValueError(f"org {self.id} has more than one {integration.type!r} integration")
            seen.add(integration.type)
        return self


class SeedGroup(_SeedModel):
    id: uuid.UUID
    name: str = pydantic.Field(min_length=1)
    orgs: tuple[SeedOrg, ...] = ()


class SeedApiKey(_SeedModel):
    key: str = pydantic.Field(min_length=1, repr=False)
    group: uuid.UUID | None = None
    orgs: tuple[uuid.UUID, ...] | None = None
    username: str | None = None
    # Optional; shown by GET /user/me. Without it, the simulator derives one under the reserved .invalid domain.
    email: str | None = pydantic.Field(default=None, pattern=EMAIL_PATTERN)

    @pydantic.model_validator(mode="after")
    def _exactly_one_scope(self) -> SeedApiKey:
        if (self.group is None) == (self.orgs is None):
            raise ValueError("an API key needs exactly one of 'group' or 'orgs'")
        return self


class Seed(_SeedModel):
    rate_limit_per_minute: int = pydantic.Field(default=DEFAULT_RATE_LIMIT_PER_MINUTE, gt=0)
    groups: tuple[SeedGroup, ...] = ()
    api_keys: tuple[SeedApiKey, ...] = ()

    @pydantic.model_validator(mode="after")
    def _consistent_references(self) -> Seed:
        problems = _duplicate_ids(self) + _dangling_key_scopes(self)
        if not problems:
            # org_slugs() is keyed by org id, so slugs are checked once the ids are known to be unique.
            problems = _duplicate_slugs(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def org_slugs(self) -> dict[uuid.UUID, str]:
        """Each org's slug: the seed's ``slug``, else one derived from the name, unique across the seed.

        A slug names one org in Snyk's URLs, so it is unique. Given slugs are kept as they are (two equal ones are
        a seed error). A derived slug that another org already has gets the org id's hex digits appended, so a
        seed with two orgs of one name in two groups still loads.
        """
        orgs = [org for group in self.groups for org in group.orgs]
        taken = {org.slug for org in orgs if org.slug is not None}
        slugs: dict[uuid.UUID, str] = {}
        for org in orgs:
            slug = org.slug
            if slug is None:
                slug = derive_slug(org.name, org.id)
                if slug in taken:
                    slug = f"{slug[: SLUG_MAX_LENGTH - 33].rstrip('-')}-{org.id.hex}"
                taken.add(slug)
            slugs[org.id] = slug
        return slugs


def _duplicate_ids(seed: Seed) -> list[str]:
    seen: dict[uuid.UUID, str] = {}
    problems: list[str] = []

    def claim(an_id: uuid.UUID, what: str) -> None:
        if an_id in seen:
            problems.append(f"id {an_id} is used by both {seen[an_id]} and {what}")
        else:
            seen[an_id] = what

    for group in seed.groups:
        claim(group.id, f"group {group.name!r}")
        for org in group.orgs:
            claim(org.id, f"org {org.name!r}")
            for integration in org.integrations:
                claim(integration.id, f"the {integration.type} integration of org {org.name!r}")
    keys = [api_key.key for api_key in seed.api_keys]
    if len(keys) != len(set(keys)):
        problems.append("an API key is listed more than once")
    return problems


def _duplicate_slugs(seed: Seed) -> list[str]:
    # Given slugs must differ; a derived one can only clash with a given slug equal to "<name>-<org id hex>".
    names = {org.id: org.name for group in seed.groups for org in group.orgs}
    owners: dict[str, uuid.UUID] = {}
    problems: list[str] = []
    for org_id, slug in seed.org_slugs().items():
        if slug in owners:
            problems.append(f"orgs {names[owners[slug]]!r} and {names[org_id]!r} have the same slug {slug!r}")
        else:
            owners[slug] = org_id
    return problems


def _dangling_key_scopes(seed: Seed) -> list[str]:
    group_ids = {group.id for group in seed.groups}
    org_ids = {org.id for group in seed.groups for org in group.orgs}
    problems: list[str] = []
    for index, api_key in enumerate(seed.api_keys):
        if api_key.group is not None and api_key.group not in group_ids:
            problems.append(f"apiKeys[{index}].group {api_key.group} is not a group in this seed")
        problems.extend(
            f"apiKeys[{index}].orgs: {org_id} is not an org in this seed"
            for org_id in api_key.orgs or ()
            if org_id not in org_ids
        )
    return problems


def parse_seed(data: Mapping[str, Any] | None) -> Seed:
    """Validate an already-parsed seed document; raise :class:`SeedError` listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise SeedError(f"a seed must be a YAML mapping at the top level, not {type(data).__name__}")
    try:
        return Seed.model_validate(data)
    except pydantic.ValidationError as error:
        raise SeedError(_describe(error)) from None


def load_seed(path: str | os.PathLike[str]) -> Seed:
    """Read and validate a seed YAML file."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as error:
        raise SeedError(f"cannot read seed file {file_path}: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SeedError(f"seed file {file_path} is not valid YAML: {error}") from None
    try:
        return parse_seed(document)
    except SeedError as error:
        raise SeedError(f"seed file {file_path}: {error}") from None


def shipped_seed_path(name: str = EXAMPLE_SEED_NAME) -> Path:
    """The path of a seed file shipped inside this package (the example seed by default)."""
    return Path(str(resources.files(__package__ or "snyk_broker_operator.simulator").joinpath(name)))


def _describe(error: pydantic.ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        location = _format_location(problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field (check its spelling against docs/snyk-simulator.md)"
        lines.append(f"{location}: {message}" if location else message)
    return "invalid seed:\n  " + "\n  ".join(lines)


def _format_location(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text

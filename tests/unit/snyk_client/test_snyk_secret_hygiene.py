"""Keys and tokens stay hidden in every repr/str the client's types can produce."""

from __future__ import annotations

import hashlib

from pydantic import SecretStr

from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.adapters.snyk import wire

KEY = "5ec12e70-0000-4000-8000-00000000beef"
TOKEN = "70ce2e70-1111-4111-8111-111111111111"


def test_tokens_are_secret_from_the_moment_they_are_parsed() -> None:
    grant = wire.BrokerTokenResponse.model_validate_json(f'{{"id": "i", "brokerToken": "{TOKEN}"}}')
    provisional = wire.ProvisionalTokenResponse.model_validate_json(
        f'{{"id": "i", "provisionalBrokerToken": "{TOKEN}"}}'
    )
    for model in (grant, provisional):
        assert TOKEN not in repr(model)
        assert TOKEN not in str(model)
        assert TOKEN not in model.model_dump_json()
    assert isinstance(grant.broker_token, SecretStr)
    assert grant.broker_token.get_secret_value() == TOKEN


def test_results_show_fingerprints_not_tokens() -> None:
    expected = "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    for result in (
        snyk.BrokerTokenGrant(integration_id="i", token=SecretStr(TOKEN)),
        snyk.ProvisionalToken(integration_id="i", token=SecretStr(TOKEN)),
    ):
        assert TOKEN not in repr(result)
        assert TOKEN not in str(result)
        assert result.fingerprint == expected
        assert result.token.get_secret_value() == TOKEN


def test_client_repr_shows_base_url_and_key_fingerprint_only() -> None:
    key = SecretStr(KEY)
    client = snyk.SnykClient(api_key=key, limiter=snyk.LimiterRegistry().for_key(key), region="SNYK-EU-01")
    text = repr(client)
    assert KEY not in text
    assert text == f"SnykClient(base_url='https://api.eu.snyk.io/v1', key={snyk.fingerprint(key)})"
    assert KEY not in str(client)


def test_fingerprint_format() -> None:
    assert snyk.fingerprint(SecretStr("abc")) == "sha256:ba7816bf8f01"

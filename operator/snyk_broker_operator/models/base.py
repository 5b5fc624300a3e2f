"""The CRD-safe pydantic base classes every API type in ``models`` derives from.

Field names are snake_case in Python and camelCase on the wire (the Kubernetes convention); both spellings are
accepted when validating, and dumps use the camelCase aliases. Models are frozen: the reconciler computes a
status whole and replaces it (``model_copy(update=...)``), it never mutates one in place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ApiModel", "ObservedModel"]


class ApiModel(BaseModel):
    """A spec type: unknown fields are refused, so a typo in a sample or a test fails loudly.

    The API server prunes unknown fields before the operator sees an object, so this never refuses a stored object
    of the same CRD version.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
        extra="forbid",
    )

    def to_json_dict(self) -> dict[str, Any]:
        """Dump in the wire form the API server stores: camelCase keys, JSON values, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObservedModel(ApiModel):
    """A status or metadata type: fields it does not know are ignored, so an older operator can read a newer status."""

    model_config = ConfigDict(extra="ignore")

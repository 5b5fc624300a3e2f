"""crds/ is generated from the models: regenerating changes nothing, and ``crdgen --check`` catches drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from snyk_broker_operator.models import crdgen

CRDS_DIR = Path(__file__).resolve().parents[3] / "crds"


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


def test_generating_into_an_empty_directory_reproduces_crds_byte_for_byte(tmp_path: Path) -> None:
    assert crdgen.main([str(tmp_path)]) == 0

    assert _files(tmp_path) == _files(CRDS_DIR)


def test_generation_is_deterministic() -> None:
    assert crdgen.render_all() == crdgen.render_all()


def test_every_generated_file_says_it_is_generated_and_how_to_regenerate() -> None:
    for name, content in crdgen.render_all().items():
        assert content.startswith("# GENERATED"), name
        assert "python -m snyk_broker_operator.models.crdgen crds/" in content.splitlines()[1], name


def test_check_passes_on_the_checked_in_crds() -> None:
    assert crdgen.main(["--check", str(CRDS_DIR)]) == 0


def test_check_fails_when_a_crd_was_edited_by_hand(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    copy = tmp_path / "crds"
    shutil.copytree(CRDS_DIR, copy)
    edited = copy / "brokertokens.snykbroker.dev.yaml"
    edited.write_text(edited.read_text().replace("maxItems: 50", "maxItems: 500"))

    assert crdgen.main(["--check", str(copy)]) == 1
    assert "brokertokens.snykbroker.dev.yaml is out of date" in caplog.text


def test_check_fails_when_a_crd_file_is_missing(tmp_path: Path) -> None:
    copy = tmp_path / "crds"
    shutil.copytree(CRDS_DIR, copy)
    (copy / "snykconnections.snykbroker.dev.yaml").unlink()

    assert crdgen.main(["--check", str(copy)]) == 1


def test_check_fails_on_a_stale_crd_of_the_group_and_generating_removes_it(tmp_path: Path) -> None:
    copy = tmp_path / "crds"
    shutil.copytree(CRDS_DIR, copy)
    stale = copy / "oldkinds.snykbroker.dev.yaml"
    stale.write_text("kind: CustomResourceDefinition\n")
    unrelated = copy / "README.md"
    unrelated.write_text("kept\n")

    assert crdgen.check(copy) == ["oldkinds.snykbroker.dev.yaml"]
    crdgen.write(copy)

    assert not stale.exists()
    assert unrelated.read_text() == "kept\n"
    assert crdgen.check(copy) == []


def test_a_json_schema_keyword_without_structural_translation_is_an_error() -> None:
    with pytest.raises(ValueError, match="'oneOf' has no structural-schema translation"):
        crdgen.structural({"oneOf": [{"type": "string"}, {"type": "integer"}]}, {})


def test_a_union_of_two_real_types_is_an_error() -> None:
    with pytest.raises(ValueError, match="only Optional"):
        crdgen.structural({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {})

"""What the image runs, proven without a container engine: the tier's operators ran from the built wheel as the
image's unprivileged uid, and none of them wrote a file anywhere (a read-only root filesystem would have refused)."""

from __future__ import annotations

import pytest

from support import installed
from support.installed import Installed


def test_the_wheel_carries_its_package_data_and_no_source_tree(operator_install: Installed) -> None:
    site = next((operator_install.root / "venv" / "lib").glob("python3*/site-packages"))
    package = site / "snyk_broker_operator"
    assert (package / "py.typed").is_file()
    assert list((package / "simulator").glob("*.yaml")), "the simulator's seed files are package data"
    # The install is the wheel's copy, not a link back to the checkout (an editable install would leave a .pth).
    assert not list(site.glob("__editable__*")) and not list(site.glob("*.egg-link"))
    assert all(not path.stat().st_mode & 0o222 for path in package.rglob("*.py")), "the package is read-only"


@pytest.mark.runs_last
def test_no_operator_of_the_tier_wrote_to_the_filesystem(operator_install: Installed) -> None:
    if operator_install.uid is None:
        pytest.skip("the operator runs as the test's own user here (not root): its writes cannot be told apart")
    assert installed.files_written_by_operator(operator_install) == []

"""Where tests find the project's Go-built tools (helm, kubeconform, kstatus-check, argo-lua-check).

One way only: `hack/build-tools.sh`, which builds them from Go modules into a version-keyed cache (a no-op once
built) and prints its bin dir last, so a test never runs a stale or hand-built binary. Nothing is downloaded as a
binary.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from support.cluster import REPO

BUILD_SCRIPT = REPO / "hack" / "build-tools.sh"


@functools.cache
def bin_dir() -> Path:
    """The tools' bin dir, after building whatever is missing from it (minutes the first time)."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"hack/build-tools.sh failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def tool_path(name: str) -> Path:
    """The path of the tool `name`; a test fails with the reason when the build has no such tool."""
    path = bin_dir() / name
    if not path.is_file():
        raise RuntimeError(f"hack/build-tools.sh built no {name} in {path.parent}: is hack/tools/{name}/ there?")
    return path

"""`make demo` runs to completion on a cluster of its own and shows what a newcomer should see."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from support.cluster import REPO


@pytest.mark.slow
def test_make_demo_runs_to_completion_and_reports_ready_tokens(tmp_path: Path) -> None:
    env = {**os.environ, "LOCAL_CLUSTER_DIR": str(tmp_path / "demo-cluster")}
    try:
        result = subprocess.run(
            ["make", "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        print(result.stdout[-4000:])
        assert result.returncode == 0, result.stderr[-4000:]
        out = result.stdout
        assert re.search(r"brokertoken.snykbroker.dev/github\s+True", out)
        assert re.search(r"brokertoken.snykbroker.dev/gitlab\s+True", out)
        assert re.search(r"github\s+Secret github-broker-token\s+fingerprint sha256:[0-9a-f]{12}", out)
        assert "00b1:Shared, 00b2:Shared" in out
        assert re.search(r"brokertoken.snykbroker.dev/github\s+True(\s+\S+){3}\s+1/1", out), "the client rolled"
        assert re.search(r"deployment.apps/github-broker\s+2/2", out)
        before = re.search(r"fingerprint before: (sha256:[0-9a-f]{12})", out)
        after = re.search(r"fingerprint after:\s+(sha256:[0-9a-f]{12}) \(revision 2\)", out)
        assert before and after and before.group(1) != after.group(1), "one rotation, with a new token"
        assert "RotationStarted -> BridgeReady -> TokenSwitched -> RotationCompleted" in out
        assert "clone_integration x2" in out and "update_integration x1" in out
    finally:
        subprocess.run(["make", "demo-down"], cwd=REPO, env=env, capture_output=True, timeout=120, check=False)

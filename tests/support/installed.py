"""The operator as its image runs it: the built wheel, installed into a clean virtualenv (not the editable source
tree), started as an unprivileged uid with a read-only package directory, no writable home and `/` as its working
directory.

There is no container engine here, so this is how the cluster tiers prove the image's contents: a module or a
package-data file the wheel lacks makes the operator fail to start, and `files_written_by_operator` finds anything
the operator wrote to the filesystem (every file it creates is owned by its uid).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from support.cluster import REPO

# The Dockerfile's `USER 65532:65532`.
OPERATOR_UID = 65532
OPERATOR_GID = 65532
# The unprivileged user must be able to run the interpreter: the development Python may live under a home directory
# it cannot enter (pyenv in /root), so the virtualenv is made from the system's Python 3 when there is one, as the
# image's python:3.11-slim base is a system Python.
SYSTEM_PYTHON = Path("/usr/bin/python3")
# A file the install touches last: what the operator writes afterwards is newer.
INSTALLED_AT = "installed-at"


@dataclasses.dataclass(frozen=True)
class Installed:
    """A wheel install: run `command`, as `uid` when this process may switch users (it runs as root in CI)."""

    root: Path
    command: Path
    uid: int | None

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """The variables the image sets, on top of `base` (minus anything that points back at the source tree)."""
        env = {k: v for k, v in base.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
        env.update(
            {
                "HOME": "/nonexistent",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
                "PATH": f"{self.command.parent}:/usr/bin:/bin",
            }
        )
        return env

    def user(self) -> dict[str, Any]:
        """`subprocess.Popen` arguments that start the child as the image's unprivileged user (none if not root)."""
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": OPERATOR_GID, "extra_groups": []}


def install(workdir: Path | None = None) -> Installed:
    """Build the wheel from the checkout and install it, with its dependencies, into a fresh virtualenv whose files
    are then made read-only."""
    root = Path(tempfile.mkdtemp(prefix="sbo-installed-", dir=workdir))
    root.chmod(0o755)
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("snyk_broker_operator-*.whl")
    venv = root / "venv"
    switch_user = os.geteuid() == 0
    base = SYSTEM_PYTHON if switch_user and SYSTEM_PYTHON.exists() else Path(sys.executable)
    subprocess.run([str(base), "-m", "venv", str(venv)], check=True, capture_output=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(wheels)
    (root / INSTALLED_AT).touch()
    subprocess.run(["chmod", "-R", "a-w,a+rX", str(venv)], check=True)
    uid = OPERATOR_UID if switch_user and base == SYSTEM_PYTHON else None
    return Installed(root=root, command=venv / "bin" / "snyk-broker-operator", uid=uid)


def remove(installed: Installed) -> None:
    subprocess.run(["chmod", "-R", "u+w", str(installed.root)], check=False)
    shutil.rmtree(installed.root, ignore_errors=True)


# The only places the unprivileged uid can create a file: the world-writable directories of this machine.
WRITABLE_PLACES = ("/tmp", "/var/tmp", "/dev/shm")


def files_written_by_operator(installed: Installed) -> list[str]:
    """Every file or directory owned by the operator's uid where it could have written one, since this install
    (the world-writable directories outlive a test run, and another run's files are not this one's)."""
    if installed.uid is None:
        return []
    since = installed.root / INSTALLED_AT
    found = subprocess.run(
        ["find", *(p for p in WRITABLE_PLACES if Path(p).exists()), "-uid", str(installed.uid), "-newer", str(since)],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in found.stdout.splitlines() if line]

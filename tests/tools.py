"""Command-line tools some tests need, found the same way everywhere: in the virtualenv first, then on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def promtool() -> str:
    """Prometheus's promtool; `make test` installs it into the virtualenv (tools/install_promtool.sh)."""
    found = shutil.which("promtool", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: `make test` installs it (tools/install_promtool.sh)")
        pytest.skip("promtool is not installed")
    return found

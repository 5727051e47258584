"""The API never talks to Docker: importing it loads no docker module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_api_imports_no_docker_module() -> None:
    probe = (
        "import sys, api.app; print(sorted(m for m in sys.modules if m.split('.')[0] == 'docker'))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"

"""What one run may cost others: the result it stores is bounded as a whole."""

from __future__ import annotations

import json

from runner.settings import Settings
from tests.sandbox.conftest import Runner

MAKE_300_FILES = (
    "i=0; while [ $i -lt 300 ]; do head -c 51000 /dev/zero | tr '\\0' a > f$i; i=$((i+1)); done"
)


def test_a_run_changing_hundreds_of_large_files_stores_a_bounded_result(
    run_sh: Runner, settings: Settings
) -> None:
    made = run_sh(MAKE_300_FILES)
    assert len(made["created"]) == settings.max_created and made["files_truncated"] is True
    changed = run_sh("for f in f*; do echo b >> $f; done")
    assert changed["files_truncated"] is True
    assert 0 < len(changed["changed"]) <= settings.max_changed
    assert len(json.dumps(changed)) <= settings.result_bytes + 1024
    small = run_sh("echo b >> f1")
    assert list(small["changed"]) == ["f1"] and small["files_truncated"] is False

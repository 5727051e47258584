"""What one run may cost others: the result it stores is bounded as a whole."""

from __future__ import annotations

import json
import time

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


def test_a_sandbox_of_many_files_neither_wedges_the_avatar_nor_eats_its_time(
    run_sh: Runner, settings: Settings
) -> None:
    many = 10 * settings.sandbox_max_files
    made = run_sh(f"mkdir many && cd many && seq {many} | xargs touch", max_seconds=10)
    assert made["colour"] == "green" and made["too_many_files"] is True
    started = time.monotonic()
    again = run_sh("echo quick", max_seconds=2)
    elapsed_s = time.monotonic() - started
    assert (again["colour"], again["stdout"]["content"]) == ("green", "quick\n")
    assert again["too_many_files"] is True and again["created"] == {}
    assert elapsed_s < 2 + 3, f"a run of a sandbox of {many} files took {elapsed_s:.1f} s"
    # The learner's own next run repairs it.
    assert run_sh("rm -r many")["colour"] == "green"
    repaired = run_sh("echo fine > fine.txt")
    assert repaired["too_many_files"] is False and list(repaired["created"]) == ["fine.txt"]

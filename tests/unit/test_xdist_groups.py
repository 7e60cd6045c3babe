"""The suite's `--dist loadgroup` really keeps each `xdist_group` on one worker.

The local cloud and the packaged variants are built once per group, so the tests of a group share state and
expect one worker (`make test`). A pytest or pytest-xdist upgrade has silently broken this once (pytest 9.2
with pytest-xdist 3.8: the group markers were dropped, every group ran on both workers, see the pin in
requirements-dev.txt). This runs a small suite the way `make test` runs ours and checks where each test ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

GROUPS = ("first", "second")
TESTS_PER_GROUP = 8  # without groups, 8 consecutive tests land on both workers (seen with pytest 9.2)

_SUITE = """
import json, os, time
import pytest

def _record(group):
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps({{"group": group, "worker": os.environ["PYTEST_XDIST_WORKER"]}}) + "\\n")
    time.sleep(0.05)  # both workers stay busy, as in the real suite

@pytest.mark.parametrize("n", range({per_group}))
@pytest.mark.xdist_group("first")
def test_first(n):
    _record("first")

@pytest.mark.parametrize("n", range({per_group}))
@pytest.mark.xdist_group("second")
def test_second(n):
    _record("second")

@pytest.mark.parametrize("n", range({per_group}))
def test_ungrouped(n):
    _record(None)
"""


def test_loadgroup_runs_every_group_on_a_single_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(_SUITE.format(per_group=TESTS_PER_GROUP), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not this repository's settings
    record = tmp_path / "record.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={"RECORD": str(record), "PATH": os.environ.get("PATH", "")},  # nothing else of this run's settings
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers: dict[str | None, set[str]] = defaultdict(set)
    lines = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        workers[line["group"]].add(line["worker"])
    assert len(lines) == 3 * TESTS_PER_GROUP
    for group in GROUPS:
        assert len(workers[group]) == 1, f"group {group!r} ran on workers {sorted(workers[group])}"

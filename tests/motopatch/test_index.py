"""The patch index and the adapter tell the truth: every patch documented and tested, every private name listed."""

from __future__ import annotations

import ast
import re

import pytest

from imageflow.motopatch import index, private
from tests.helpers import REPO_ROOT

# moto's public API: the decorator/context manager and the server
PUBLIC_MOTO = {"moto.mock_aws", "moto.server.ThreadedMotoServer", "moto.server.main", "moto.server"}
ADAPTER = REPO_ROOT / "imageflow" / "motopatch" / "private.py"


@pytest.mark.parametrize("patch", index.PATCHES, ids=lambda patch: patch.name)
def test_every_patch_says_what_upstream_does_and_has_a_test_and_a_rule_for_going(patch: index.Patch) -> None:
    doc = patch.apply.__doc__ or ""
    assert "Upstream" in doc, f"{patch.name}: the docstring must say what upstream does"
    assert patch.remove_when.startswith("when "), patch.name
    assert patch.runtimes and patch.runtimes <= index.BOTH
    for node_id in patch.tests:
        path, _, test_name = node_id.partition("::")
        source = (REPO_ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {re.escape(test_name)}\(", source, re.MULTILINE), f"{patch.name}: no test {node_id}"


def test_patch_names_are_unique_and_every_adapter_user_is_a_patch_or_a_fast_path() -> None:
    names = [patch.name for patch in index.PATCHES]
    assert len(names) == len(set(names))
    fast_paths = {"LocalS3", "LocalStepFunctions"}
    for name in private.NAMES:
        assert set(name.used_by) <= set(names) | fast_paths, name.path


def test_every_listed_private_name_is_where_the_adapter_says() -> None:
    assert [str(moved) for moved in private.check()] == []


def test_a_moved_name_is_reported_with_the_patch_that_relies_on_it() -> None:
    moved = private.PrivateName("moto.stepfunctions.parser.utils:NO_SUCH_NAME", ("shared_parsed_program",))
    with pytest.raises(private.PrivateNameMoved) as raised:
        moved.load()
    message = str(raised.value)
    assert "moto.stepfunctions.parser.utils:NO_SUCH_NAME has no attribute 'NO_SUCH_NAME'" in message
    assert "relied on by shared_parsed_program" in message
    changed = private.PrivateName(
        "moto.stepfunctions.parser.backend.execution_worker:ExecutionWorker._execution_logic",
        ("execution_end_signal",),
        parameters=("self", "timeout"),
    )
    with pytest.raises(private.PrivateNameMoved, match=r"now takes \('self',\), not \('self', 'timeout'\)"):
        changed.verify()
    gone = private.PrivateName(
        "moto.stepfunctions.parser.backend.execution:Execution", ("x",), instance_attributes=("no_such_attribute",)
    )
    with pytest.raises(private.PrivateNameMoved, match="no longer sets the instance attribute 'no_such_attribute'"):
        gone.verify()


def _moto_imports(path: str) -> set[str]:
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "moto":
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "moto"}
    return found


def test_nothing_outside_the_adapter_imports_moto_internals() -> None:
    tracked = [
        str(path.relative_to(REPO_ROOT))
        for folder in ("imageflow", "handlers", "tests", "benchmarks")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if path != ADAPTER
    ]
    offenders = {path: sorted(_moto_imports(path) - PUBLIC_MOTO) for path in tracked}
    assert {path: names for path, names in offenders.items() if names} == {}

"""``make moto-check``: every patch's test against another moto release, in a throwaway environment.

    python -m imageflow.motopatch.check --moto 5.2.4        # what make moto-check runs

It creates a virtual environment in a temporary folder, installs the project's development requirements
with the given moto release instead of the pinned one, and runs there (``--inside``): the adapter's check of
every private name, then each patch's tests. The report names, for each patch, the private name that moved
or the test that failed, in one line each, not a stack trace; the exit status is 1 if anything did.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

from imageflow.paths import REPO_ROOT

_MOTO_REQUIREMENT = re.compile(r"^moto(\[[^\]]*\])?==\S+$")


def requirements_with_moto(requirements: Path, version: str) -> list[str]:
    """The development requirements, with moto (its extras kept) at ``version``."""
    lines = []
    replaced = False
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _MOTO_REQUIREMENT.match(line.strip())
        if match:
            line, replaced = f"moto{match.group(1) or ''}=={version}", True
        elif line.startswith("-r "):
            line = f"-r {requirements.parent / line[3:].strip()}"
        lines.append(line)
    if not replaced:
        raise SystemExit(f"{requirements}: no pinned moto requirement (moto[...]==X.Y.Z) to replace")
    return lines


def _run(command: Sequence[str], what: str, **options: object) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False, **options)  # type: ignore[call-overload]
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-15:])
        raise SystemExit(f"moto-check: {what} failed:\n{tail}")


def build_environment(folder: Path, version: str, python: str) -> Path:
    """A virtual environment in ``folder`` with the project and moto ``version``; its python."""
    _run([python, "-m", "venv", str(folder)], f"creating a virtual environment with {python}")
    venv_python = folder / "bin" / "python"
    requirements = folder / "requirements.txt"
    requirements.write_text("\n".join(requirements_with_moto(REPO_ROOT / "requirements-dev.txt", version)) + "\n")
    _run([str(venv_python), "-m", "pip", "install", "--quiet", "-r", str(requirements)], f"installing moto {version}")
    _run(
        [str(venv_python), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(REPO_ROOT)],
        "installing the project",
    )
    return venv_python


def _failed_tests(junit: Path) -> dict[str, str]:
    """pytest node id -> first line of its failure, from a JUnit XML report."""
    failed = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            path = case.get("classname", "").replace(".", "/") + ".py"
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            failed[f"{path}::{case.get('name', '')}"] = message[0] if message else "failed"
    return failed


def check_inside(report_dir: Path) -> int:
    """Run in the environment under test: the adapter's check, then every patch's tests; print the report."""
    from imageflow.motopatch import index, private

    moved = list(private.check())
    tests = sorted({node for patch in index.PATCHES for node in patch.tests})
    junit = report_dir / "patch-tests.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=no", f"--junitxml={junit}", *tests],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    failed = _failed_tests(junit) if junit.exists() else dict.fromkeys(tests, "pytest did not run")

    print(f"moto {private.moto_version()}: {len(private.NAMES)} private names, {len(index.PATCHES)} patches")
    for name in moved:
        print(f"  MOVED  {name.name.path} {name.problem} (relied on by {', '.join(name.name.used_by)})")
    problems = len(moved)
    for patch in index.PATCHES:
        relied_on = [m for m in moved if patch.name in m.name.used_by]
        broken = {node: failed[node.split("[")[0]] for node in patch.tests if node.split("[")[0] in failed}
        if not relied_on and not broken:
            print(f"  ok     {patch.name}")
            continue
        problems += len(broken)
        for name in relied_on:
            print(f"  BROKEN {patch.name}: relies on {name.name.path}, which {name.problem}")
        for node, message in broken.items():
            print(f"  BROKEN {patch.name}: {node} failed: {message}")
    print("moto-check: all patches hold" if problems == 0 else f"moto-check: {problems} problem(s); see above")
    return 0 if problems == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imageflow.motopatch.check", description=__doc__.splitlines()[0])
    parser.add_argument("--moto", default="5.2.4", help="the moto release to check against (default: %(default)s)")
    parser.add_argument("--python", default="python3.12", help="interpreter for the environment (default: %(default)s)")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)  # run in the environment under test
    args = parser.parse_args(argv)
    if args.inside:
        return check_inside(args.inside)
    with tempfile.TemporaryDirectory(prefix="moto-check-") as folder:
        print(f"moto-check: building a throwaway environment with moto {args.moto} ...", flush=True)
        python = build_environment(Path(folder) / "venv", args.moto, args.python)
        return subprocess.run(
            [str(python), "-m", "imageflow.motopatch.check", "--inside", folder], check=False
        ).returncode


if __name__ == "__main__":
    sys.exit(main())

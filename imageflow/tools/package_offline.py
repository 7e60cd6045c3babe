"""Run ``sls package`` with no AWS account and report the artifact sizes.

``sls package`` asks CloudFormation whether the service's layer changed (DescribeStacks);
offline, a throwaway moto server on loopback answers "no such stack" and packaging goes on.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path

from moto.server import ThreadedMotoServer

from imageflow.paths import REPO_ROOT

SLS = REPO_ROOT / "node_modules" / ".bin" / "sls"
# What `sls` reads to package and deploy the service (everything else is the local tooling).
SERVICE_PATHS = (
    "serverless.yml", "package.json", ".npmrc", "requirements.txt",
    "handlers", "stepfunctions", "iam", "monitoring", "sagemaker", "retrain", "batch", "security", "events",
)  # fmt: skip


def copy_service(target: Path) -> Path:
    """A private copy of the Serverless service, so ``sls`` writes ``.serverless/`` there.

    Two CLI runs in one folder race on ``.serverless/`` (and osls reads back artifacts from it
    even when told to package elsewhere), so tests and tools work on copies.
    """
    target.mkdir(parents=True, exist_ok=True)
    for name in SERVICE_PATHS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target / name)
    (target / "node_modules").symlink_to(REPO_ROOT / "node_modules", target_is_directory=True)
    return target


def sls_environment(aws_endpoint: str) -> dict[str, str]:
    """The environment for a Serverless CLI call against a local AWS endpoint."""
    env = dict(os.environ)
    env.update(
        PATH=os.pathsep.join([str(SLS.parent), str(Path(sys.executable).parent), env.get("PATH", "")]),
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ACCESS_KEY_ID=env.get("AWS_ACCESS_KEY_ID", "testing"),
        AWS_SECRET_ACCESS_KEY=env.get("AWS_SECRET_ACCESS_KEY", "testing"),
        AWS_REGION=env.get("AWS_REGION", "us-east-1"),
        SLS_TELEMETRY_DISABLED="1",
    )
    return env


def package_service(
    stage: str, service_dir: Path = REPO_ROOT, params: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``sls package --stage STAGE [--param k=v]...`` in SERVICE_DIR against a temporary local CloudFormation.

    The artifacts land in ``SERVICE_DIR/.serverless``.
    """
    if not SLS.exists():
        raise FileNotFoundError(f"{SLS.relative_to(REPO_ROOT)} is missing: run `make setup` first")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        return subprocess.run(
            [str(SLS), "package", "--stage", stage]
            + [f"--param={key}={value}" for key, value in (params or {}).items()],
            cwd=service_dir,
            env=sls_environment(f"http://{host}:{port}"),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        server.stop()


TEMPLATE = "cloudformation-template-update-stack.json"


class PackagingError(RuntimeError):
    """``sls package`` failed; the message carries the end of its output."""


class VariantPackager:
    """Packages variants of the service (named sets of stage parameters), each once, ``workers`` at a time.

    Each variant is packaged on its own private copy of the service under ``root``, on a thread that ends
    with it (no idle pool is left behind: code that checks for other threads, such as the report's forked
    readers, is not affected once packaging is done). ``output_dir`` waits for its variant (starting it if
    nobody asked before) and returns its ``.serverless`` folder.
    """

    def __init__(self, root: Path, variants: Mapping[str, Mapping[str, str]], stage: str, workers: int = 2) -> None:
        self.root, self.variants, self.stage = root, variants, stage
        self._slots = threading.BoundedSemaphore(workers)
        self._started: dict[str, tuple[threading.Thread, Future[Path]]] = {}
        self._lock = threading.Lock()

    def start(self, *names: str) -> None:
        """Begin packaging these variants in the background."""
        for name in names:
            self._future(name)

    def output_dir(self, name: str) -> Path:
        return self._future(name).result()

    def template(self, name: str) -> Path:
        """The packaged CloudFormation template of variant ``name``."""
        return self.output_dir(name) / TEMPLATE

    def close(self) -> None:
        """Wait for the packaging already started."""
        for thread, _ in list(self._started.values()):
            thread.join()

    def _future(self, name: str) -> Future[Path]:
        if name not in self.variants:
            raise KeyError(f"no variant {name!r}; known: {', '.join(self.variants)}")
        with self._lock:
            if name not in self._started:
                future: Future[Path] = Future()
                thread = threading.Thread(target=self._run, args=(name, future), name=f"sls-package-{name}")
                self._started[name] = (thread, future)
                thread.start()
            return self._started[name][1]

    def _run(self, name: str, future: Future[Path]) -> None:
        with self._slots:
            try:
                future.set_result(self._package(name))
            except BaseException as error:  # handed to whoever waits for the variant
                future.set_exception(error)

    def _package(self, name: str) -> Path:
        service = copy_service(self.root / name / "service")
        completed = package_service(self.stage, service, params=dict(self.variants[name]))
        if completed.returncode != 0:
            raise PackagingError(
                f"sls package of variant {name!r} failed:\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
            )
        return service / ".serverless"


def artifact_sizes(out_dir: Path) -> dict[str, tuple[int, int]]:
    """Each zip's (compressed bytes, uncompressed bytes)."""
    sizes = {}
    for path in sorted(out_dir.glob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            sizes[path.name] = (path.stat().st_size, sum(info.file_size for info in archive.infolist()))
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a stage parameter, e.g. architecture=arm64"
    )
    args = parser.parse_args(argv)
    params = dict(item.split("=", 1) for item in args.param if "=" in item)
    completed = package_service(args.stage, params=params)
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        return completed.returncode
    out = REPO_ROOT / ".serverless"
    print(f"Packaged stage {args.stage!r} into {out.relative_to(REPO_ROOT)}/")
    for name, (zipped, unzipped) in artifact_sizes(out).items():
        print(f"  {name:<26} {zipped / 1024:>9,.1f} KiB zipped  {unzipped / 1024:>9,.1f} KiB unzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run ``sls package`` with no AWS account and report the artifact sizes.

``sls package`` asks CloudFormation whether the service's layer changed (DescribeStacks);
offline, a throwaway moto server on loopback answers "no such stack" and packaging goes on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from moto.server import ThreadedMotoServer

from imageflow.paths import REPO_ROOT

SLS = REPO_ROOT / "node_modules" / ".bin" / "sls"


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
    stage: str, out_dir: Path, params: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``sls package --stage STAGE --package OUT_DIR [--param k=v]...`` against a temporary local CloudFormation."""
    if not SLS.exists():
        raise FileNotFoundError(f"{SLS.relative_to(REPO_ROOT)} is missing: run `make setup` first")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        return subprocess.run(
            [str(SLS), "package", "--stage", stage, "--package", str(out_dir)]
            + [f"--param={key}={value}" for key, value in (params or {}).items()],
            cwd=REPO_ROOT,
            env=sls_environment(f"http://{host}:{port}"),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        server.stop()


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
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".serverless")
    args = parser.parse_args(argv)
    completed = package_service(args.stage, args.out)
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        return completed.returncode
    print(f"Packaged stage {args.stage!r} into {args.out}")
    for name, (zipped, unzipped) in artifact_sizes(args.out).items():
        print(f"  {name:<26} {zipped / 1024:>9,.1f} KiB zipped  {unzipped / 1024:>9,.1f} KiB unzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

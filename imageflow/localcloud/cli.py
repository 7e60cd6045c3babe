"""``imageflow local start|stop|status|env|seed``: the offline AWS services in the background."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imageflow.localcloud import envfile, settings

_EPILOG = """\
typical session:
  imageflow local start                  # local AWS API + SageMaker endpoint, sample images seeded
  source .local/local.env                # AWS_ENDPOINT_URL*, test credentials, region, ENDPOINT_NAME
  sls invoke local -f serialize --path events/serialize.json
  sls deploy --stage local
  sls invoke stepf --name classifyImage --stage local --path events/serialize.json
  sls remove --stage local
  imageflow local stop
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``local`` command and its subcommands."""
    parser = subparsers.add_parser(
        "local",
        help="start/stop the offline AWS services (local AWS API and SageMaker endpoint)",
        description="Run the local AWS API (moto with the project's fixes: CloudFormation deploys, Step Functions "
        "executions, Lambda functions run from their deployed zips without Docker) and the local SageMaker "
        "endpoint in the background, on loopback, so `sls invoke local`, `sls deploy --stage local` and "
        "`sls invoke stepf --stage local` work offline.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=settings.DEFAULT_STATE_DIR,
        help="where pids, logs and the env file are kept (default: .local/ at the repository root)",
    )
    commands = parser.add_subparsers(dest="local_command", required=True, metavar="ACTION")

    start = commands.add_parser(
        "start",
        help="start both services in the background, seed the sample images, write .local/local.env",
        description="Start the local AWS API and the local SageMaker endpoint in the background, create the "
        f"buckets {settings.IMAGES_BUCKET} and {settings.CAPTURE_BUCKET}, upload samples/ to the first, and "
        "write an env file to `source`. Refuses to start twice.",
    )
    start.add_argument("--aws-port", type=int, default=settings.DEFAULT_AWS_PORT, help="default: %(default)s")
    start.add_argument("--endpoint-port", type=int, default=settings.DEFAULT_ENDPOINT_PORT, help="default: %(default)s")
    start.add_argument("--no-seed", action="store_true", help="do not create the buckets or upload samples/")
    start.set_defaults(func=_start)

    stop = commands.add_parser("stop", help="stop the background services", description="Stop both services.")
    stop.set_defaults(func=_stop)

    status = commands.add_parser(
        "status", help="show whether the services run and answer", description="Exit 0 when both run and answer."
    )
    status.set_defaults(func=_status)

    env = commands.add_parser(
        "env",
        help="print the environment for the running services",
        description='Print the variables as `export` lines: eval "$(imageflow local env)".',
    )
    env.set_defaults(func=_env)

    seed = commands.add_parser(
        "seed",
        help="(re)create the buckets and upload samples/ into the running local S3",
        description="Create the local buckets if missing and upload every image in samples/.",
    )
    seed.set_defaults(func=_seed)


def _cloud(args: argparse.Namespace):  # -> LocalCloud (imported lazily: keeps `imageflow --help` fast)
    from imageflow.localcloud.services import LocalCloud

    return LocalCloud(args.state_dir)


def _fail(message: str) -> int:
    print(f"imageflow local: {message}", file=sys.stderr)
    return 1


def _start(args: argparse.Namespace) -> int:
    from imageflow.localcloud.services import LocalCloudError

    cloud = _cloud(args)
    try:
        cloud.start(
            settings.Ports(args.aws_port, args.endpoint_port),
            seed_samples=not args.no_seed,
            progress=lambda message: print(message, flush=True),
        )
    except LocalCloudError as exc:
        return _fail(str(exc))
    print(f"local services running; logs in {cloud.log_dir}")
    print(f"use them in this shell with:  source {_shown(cloud.env_file)}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from imageflow.localcloud.services import NotRunningError

    try:
        stopped = _cloud(args).stop()
    except NotRunningError as exc:
        print(f"imageflow local: {exc}")
        return 0  # the desired state holds: scripts may call stop unconditionally
    for service in stopped:
        print(f"stopped {service.name} (pid {service.pid}, {service.url})")
    return 0


def _status(args: argparse.Namespace) -> int:
    statuses = _cloud(args).status()
    if not statuses:
        print("the local services are not running (start them with `imageflow local start`)")
        return 1
    for item in statuses:
        state = "running" if item.running else "stopped"
        health = ", answering" if item.healthy else (", NOT answering" if item.running else "")
        print(f"{item.service.name:<9} {state}{health}  pid {item.service.pid}  {item.service.url}  "
              f"log {_shown(Path(item.service.log))}")  # fmt: skip
    return 0 if all(item.healthy for item in statuses) else 1


def _env(args: argparse.Namespace) -> int:
    from imageflow.localcloud.services import NotRunningError

    try:
        print(envfile.render(_cloud(args).environment()), end="")
    except NotRunningError as exc:
        return _fail(str(exc))
    return 0


def _seed(args: argparse.Namespace) -> int:
    from imageflow.localcloud.seed import seed

    running = {s.name: s for s in _cloud(args).services()}
    if "aws" not in running:
        return _fail("the local services are not running: start them with `imageflow local start`")
    keys = seed(running["aws"].port)
    print(f"uploaded {len(keys)} images to s3://{settings.IMAGES_BUCKET}: {', '.join(keys)}")
    return 0


def _shown(path: Path) -> str:
    """A path relative to the current directory when inside it (shorter to copy)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)

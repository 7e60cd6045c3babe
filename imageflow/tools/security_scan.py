"""Package every variant of the template offline, scan it with checkov and lint its IAM policies.

    python -m imageflow.tools.security_scan                 # passed / failed / skipped per variant
    python -m imageflow.tools.security_scan --skips         # and every skipped check with its reason
    python -m imageflow.tools.security_scan kms endpoint    # only these variants

checkov reads what ``sls package`` writes (``.serverless/cloudformation-template-update-stack.json``), as
``checkov -f <template> --framework cloudformation``, with every check it ships. It is installed in its own
virtual environment (``make setup``: .venv-checkov, from requirements-checkov.txt) because it pins boto3 to a
release the rest of the project cannot use. Then parliament lints every IAM policy of each variant
(``policy_lint``). The exit status is 1 when any variant has a failed check or a policy finding.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imageflow.paths import REPO_ROOT
from imageflow.tools.package_offline import VariantPackager
from imageflow.tools.policy_lint import lint_template, policies

STAGE = "dev"
EXAMPLE_KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

EXAMPLE_ENDPOINT = {
    "modelDataUrl": "s3://example-models/classifier/model.tar.gz",
    "inferenceImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/classifier:1",
    "captureSamplingPercentage": "50",
}

# Each variant of the template: a name and the stage parameters that make it (README "Security").
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},  # the stack creates the images bucket; no endpoint, AWS-managed keys, no access logs
    "existing-bucket": {"imagesBucket": "team-images"},
    "endpoint": EXAMPLE_ENDPOINT,
    "kms": {"kmsKeyArn": EXAMPLE_KMS_KEY, **EXAMPLE_ENDPOINT},  # with the endpoint: its data capture too
    "log-bucket": {"logBucket": "team-access-logs"},
}

CHECKOV_VENV = REPO_ROOT / ".venv-checkov"
CHECKOV_TIMEOUT_SECONDS = 600
NO_COMMENT = "No comment provided"  # what checkov reports for a skip without a comment


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    resource: str  # "AWS::S3::Bucket.ImagesBucket"
    comment: str = ""  # a skip's reason as checkov read it

    @property
    def logical_id(self) -> str:
        return self.resource.rsplit(".", 1)[-1]

    @property
    def resource_type(self) -> str:
        return self.resource.rsplit(".", 1)[0]


@dataclass(frozen=True)
class ScanReport:
    passed: tuple[CheckResult, ...]
    failed: tuple[CheckResult, ...]
    skipped: tuple[CheckResult, ...]

    def summary(self) -> str:
        return f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.skipped)} skipped"


class CheckovError(RuntimeError):
    """checkov is missing, or did not produce a report."""


def checkov_executable() -> Path:
    """checkov from .venv-checkov, or from $CHECKOV."""
    configured = os.environ.get("CHECKOV")
    path = Path(configured) if configured else CHECKOV_VENV / "bin" / "checkov"
    if not (path.exists() or shutil.which(str(path))):
        raise CheckovError(f"checkov not found at {path}: run `make setup` (installs requirements-checkov.txt)")
    return path


def run_checkov(templates: Mapping[str, Path]) -> dict[str, ScanReport]:
    """checkov's CloudFormation checks on each named template, in one checkov run.

    One run reads every template (a checkov start costs several seconds of CPU); its results are per file,
    the same as one run per template gives (compared when this was written).
    """
    with tempfile.TemporaryDirectory(prefix="imageflow-checkov-") as folder:
        for name, template in templates.items():
            shutil.copyfile(template, Path(folder) / f"{name}.json")
        # --skip-download: offline, no download of Prisma Cloud's guideline links and severities.
        command = [checkov_executable(), "-d", folder, "--framework", "cloudformation", "-o", "json", "--skip-download"]
        completed = subprocess.run(
            [str(part) for part in command],
            capture_output=True,
            text=True,
            timeout=CHECKOV_TIMEOUT_SECONDS,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
        )
    # Exit status 1 means failed checks, which the report lists; anything else without a report is an error.
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        message = f"checkov gave no report (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
        raise CheckovError(message) from None
    return split_report(report, list(templates))


def split_report(report: dict[str, Any] | list[Any], names: list[str]) -> dict[str, ScanReport]:
    """One ``ScanReport`` per template (``<name>.json``) from checkov's JSON output (one framework)."""
    if isinstance(report, list):  # one entry per framework; we ask for cloudformation only
        (report,) = report
    results = report.get("results", {})  # no resources at all: checkov prints only a summary
    if results.get("parsing_errors"):
        raise CheckovError(f"checkov could not parse {', '.join(results['parsing_errors'])}")

    def checks(kind: str, name: str) -> tuple[CheckResult, ...]:
        return tuple(
            CheckResult(c["check_id"], c["resource"], c["check_result"].get("suppress_comment") or "")
            for c in results.get(kind, [])
            if Path(c["file_path"]).name == f"{name}.json"
        )

    return {
        name: ScanReport(checks("passed_checks", name), checks("failed_checks", name), checks("skipped_checks", name))
        for name in names
    }


def scan_variants(packager: VariantPackager, names: list[str]) -> dict[str, ScanReport]:
    """Package each named variant (in parallel) and scan them all."""
    packager.start(*names)
    return run_checkov({name: packager.template(name) for name in names})


def _print_reports(reports: dict[str, ScanReport], show_skips: bool) -> None:
    width = max(len(name) for name in reports)
    for name, report in reports.items():
        print(f"{name:<{width}}  {report.summary()}")
        for check in report.failed:
            print(f"{'':<{width}}  FAILED  {check.check_id} {check.resource}")
    if show_skips:
        reasons: dict[tuple[str, str], set[str]] = {}
        for report in reports.values():
            for check in report.skipped:
                reasons.setdefault((check.check_id, check.comment), set()).add(check.resource)
        for (check_id, comment), resources in sorted(reasons.items()):
            print(f"\n{check_id} on {', '.join(sorted(resources))}:\n  {comment}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", metavar="VARIANT", help=f"default: all of {', '.join(VARIANTS)}")
    parser.add_argument("--skips", action="store_true", help="list every skipped check with its reason")
    args = parser.parse_args(argv)
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    names = args.variants or list(VARIANTS)
    checkov_executable()  # fail before packaging when it is missing
    with tempfile.TemporaryDirectory(prefix="imageflow-scan-") as work:
        packager = VariantPackager(Path(work), VARIANTS, STAGE)
        try:
            reports = scan_variants(packager, names)
            templates = {name: json.loads(packager.template(name).read_text()) for name in names}
        finally:
            packager.close()
    print("checkov:")
    _print_reports(reports, args.skips)
    print("\nparliament (IAM policies):")
    findings = 0
    for name, template in templates.items():
        linted = lint_template(template)
        findings += len(linted)
        print(f"{name:<{max(map(len, names))}}  {len(policies(template))} policies, {len(linted)} findings")
        for finding in linted:
            print(f"  {finding}")
    return 1 if findings or any(report.failed for report in reports.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

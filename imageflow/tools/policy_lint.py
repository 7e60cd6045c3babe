"""Lint every IAM policy of a packaged template with parliament (Duo Labs' policy linter).

    python -m imageflow.tools.policy_lint .serverless/cloudformation-template-update-stack.json

checkov reads a template's resources; parliament reads each policy against AWS's own list of actions,
resource types and condition keys: an action that does not exist, an ARN that cannot match the action's
resource type, a ``*`` where a resource could be named, and (community auditors) privilege escalation,
credential exposure and permissions-management rights. The policies are read as the stack would get them
(``cfn_template``): the template's conditions evaluated, references turned into ARNs.

Findings the project accepts are listed, each with its reason, in ``security/parliament.yaml``, in
parliament's own configuration format (``ignore_locations``). They are matched here, the way parliament's
CLI documents it (every key of a location matches, each value as a case-insensitive regular expression),
because parliament 1.6.4 drops ignore patterns that come from a YAML file (its ``make_list`` turns a plain
string or list into an empty list), so its own filter would ignore nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imageflow.paths import REPO_ROOT
from imageflow.tools.cfn_template import EvaluatedTemplate, IdentityPolicy

ACCEPTED_FINDINGS = REPO_ROOT / "security" / "parliament.yaml"


@dataclass(frozen=True)
class PolicyFinding:
    resource: str
    policy: str
    issue: str
    severity: str
    detail: str

    def __str__(self) -> str:
        return f"{self.resource}/{self.policy}: {self.severity} {self.issue} {self.detail}"


@functools.cache
def _parliament() -> Any:
    """parliament, configured as its CLI is with --include-community-auditors."""
    with warnings.catch_warnings():
        # parliament 1.6.4 still imports pkg_resources (setuptools < 81 is pinned for it).
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import parliament

    parliament.override_config(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")
    return parliament


@functools.cache
def accepted_findings() -> dict[str, list[dict[str, list[str]]]]:
    """Issue -> the locations where it is accepted (each key -> regular expressions), from the YAML file."""
    import yaml

    settings = yaml.safe_load(ACCEPTED_FINDINGS.read_text()) or {}
    return {
        issue: [
            {key: patterns if isinstance(patterns, list) else [patterns] for key, patterns in location.items()}
            for location in entry.get("ignore_locations", [])
        ]
        for issue, entry in settings.items()
    }


def is_accepted(issue: str, location: dict[str, Any]) -> bool:
    """Whether ``security/parliament.yaml`` accepts this finding at this location."""
    return any(
        all(
            any(re.fullmatch(pattern.lower(), str(location.get(key, "")).lower()) for pattern in patterns)
            for key, patterns in accepted.items()
        )
        for accepted in accepted_findings().get(issue, [])
    )


def lint_policy(policy: IdentityPolicy) -> list[PolicyFinding]:
    """parliament's findings for one policy (all but muted ones), less those the project accepts."""
    parliament = _parliament()
    analyzed = parliament.analyze_policy_string(json.dumps(policy.document), include_community_auditors=True)
    findings = []
    for finding in analyzed.findings:
        parliament.enhance_finding(finding)  # severity and title from parliament's configuration
        if finding.severity != "MUTE" and not is_accepted(finding.issue, finding.location):
            findings.append(
                PolicyFinding(policy.resource, policy.name, finding.issue, finding.severity, str(finding.detail))
            )
    return findings


def lint_template(template: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> list[PolicyFinding]:
    """The findings on every identity policy the stack would create with these parameter values."""
    return [finding for policy in policies(template, parameters) for finding in lint_policy(policy)]


def policies(template: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> list[IdentityPolicy]:
    return list(EvaluatedTemplate(template, parameters).identity_policies())


def _report(findings: Iterable[PolicyFinding]) -> int:
    findings = list(findings)
    for finding in findings:
        print(finding)
    return 1 if findings else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path, help="a packaged CloudFormation template (JSON)")
    args = parser.parse_args(argv)
    template = json.loads(args.template.read_text())
    checked = policies(template)
    status = _report(lint_template(template))
    print(f"{len(checked)} policies checked, {'findings above' if status else 'no findings'}")
    return status


if __name__ == "__main__":
    sys.exit(main())

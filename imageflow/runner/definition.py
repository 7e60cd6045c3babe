"""Load the state machine definition and resolve its function references for a runtime."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from imageflow.paths import REPO_ROOT

DEFINITION_PATH = REPO_ROOT / "stepfunctions" / "classify_image.asl.yml"


def load_definition(path: Path = DEFINITION_PATH) -> dict[str, Any]:
    """Parse the ASL file (YAML or JSON) as serverless-step-functions does."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def resolve_functions(definition: Mapping[str, Any], arn_for: Callable[[str], str]) -> dict[str, Any]:
    """Replace every ``{"Fn::GetAtt": [function, "Arn"]}`` with ``arn_for(function)``."""
    return _walk(definition, arn_for)


def _walk(node: Any, arn_for: Callable[[str], str]) -> Any:
    if isinstance(node, Mapping):
        ref = node.get("Fn::GetAtt")
        if len(node) == 1 and isinstance(ref, list) and len(ref) == 2 and ref[1] == "Arn":
            return arn_for(ref[0])
        return {key: _walk(value, arn_for) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(item, arn_for) for item in node]
    return node


def to_json(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, separators=(",", ":"))

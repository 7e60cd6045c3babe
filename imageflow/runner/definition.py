"""Load a state machine definition and resolve it for a local runtime as the Serverless Framework would.

The ASL files are resolved by serverless at package time; the local runtimes resolve the same few kinds of
variable here, so both run one definition:

* ``${file(path):Key}`` (path relative to the repository): the batch machine includes the per-image
  chain's ``StartAt`` and ``States`` this way instead of copying them;
* ``${param:name}``: the stage parameter, from ``variables`` or else serverless.yml's ``params`` (the
  ``local`` stage's value first, then ``default``);
* ``${self:custom.imagesBucketName}`` and any other ``self:`` name: only from ``variables`` (the local
  runtime says which bucket it uses);
* ``{"Fn::GetAtt": [function, "Arn"]}``: ``resolve_functions`` turns it into the runtime's function ARN.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from imageflow.paths import REPO_ROOT

DEFINITION_PATH = REPO_ROOT / "stepfunctions" / "classify_image.asl.yml"
BATCH_DEFINITION_PATH = REPO_ROOT / "stepfunctions" / "classify_batch.asl.yml"
SERVERLESS_YML = REPO_ROOT / "serverless.yml"
LOCAL_STAGE = "local"

_WHOLE_VARIABLE = re.compile(r"^\$\{([^{}]+)\}$")
_FILE_VARIABLE = re.compile(r"^file\(([^)]+)\):(\w+)$")


class DefinitionVariableError(ValueError):
    """A variable in an ASL file that the local runtime cannot resolve (the message names file and variable)."""


def load_definition(path: Path | str = DEFINITION_PATH, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Parse the ASL file (YAML or JSON) and resolve its serverless variables (see the module docstring)."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    return _resolve(document, dict(variables or {}), path)


@functools.cache
def _stage_params(stage: str = LOCAL_STAGE) -> dict[str, Any]:
    with SERVERLESS_YML.open(encoding="utf-8") as handle:
        params = (yaml.safe_load(handle) or {}).get("params") or {}
    return {**(params.get("default") or {}), **(params.get(stage) or {})}


def _variable(name: str, variables: Mapping[str, Any], path: Path) -> Any:
    if name in variables:
        return variables[name]
    included = _FILE_VARIABLE.match(name)
    if included:
        file = REPO_ROOT / included.group(1)
        with file.open(encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
        if not isinstance(document, Mapping) or included.group(2) not in document:
            raise DefinitionVariableError(f"{path}: ${{{name}}}: {file} has no top-level {included.group(2)!r}")
        return _resolve(document[included.group(2)], variables, file)
    if name.startswith("param:"):
        params = _stage_params()
        if name[6:] in params:
            return params[name[6:]]
    raise DefinitionVariableError(f"{path}: ${{{name}}} has no value in the local runtime")


def _resolve(node: Any, variables: Mapping[str, Any], path: Path) -> Any:
    if isinstance(node, str):
        whole = _WHOLE_VARIABLE.match(node)
        return _variable(whole.group(1), variables, path) if whole else node
    if isinstance(node, Mapping):
        return {key: _resolve(value, variables, path) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, variables, path) for item in node]
    return node


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

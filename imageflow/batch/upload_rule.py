"""The upload rule (``batch/resources.yml``: S3 ``Object Created`` under the upload prefix -> classifyImage),
applied locally to a real-shaped EventBridge event.

moto's S3 sends nothing to EventBridge and its EventBridge starts no state machine, so locally the rule is
applied here: the same event pattern and input transformer, read from the same file, turn an event shaped as
S3 sends it to EventBridge into the per-image machine's input, and the execution is started with it.

Keys are passed through unchanged. S3's notifications to SNS, SQS and Lambda URL-encode the key ("red
flower.jpg" arrives as "red+flower.jpg"); the EventBridge event structure documented by S3 ("EventBridge event
message structure") shows ``detail.object.key`` as the key itself and says nothing of encoding, and a key may
hold a literal ``+`` or ``%``, so decoding a key that was never encoded would corrupt it. If AWS is ever seen
to encode it, the fix is one state before Serialize, not a guess here.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from imageflow.paths import REPO_ROOT

RESOURCES = REPO_ROOT / "batch" / "resources.yml"
RULE = "UploadRule"
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")


class UploadRuleError(ValueError):
    """The rule in batch/resources.yml cannot be applied locally (the message names the setting)."""


def load_rule(bucket: str, upload_prefix: str, path: Path = RESOURCES) -> dict[str, Any]:
    """The rule's EventPattern and its target's InputTransformer, with the stage's bucket and prefix filled in."""
    text = path.read_text(encoding="utf-8")
    text = text.replace("${self:custom.imagesBucketName}", json.dumps(bucket)).replace(
        "${param:uploadPrefix}", upload_prefix
    )
    properties = (yaml.safe_load(text).get("Resources") or {}).get(RULE, {}).get("Properties") or {}
    targets = properties.get("Targets") or []
    if not properties.get("EventPattern") or not targets or "InputTransformer" not in targets[0]:
        raise UploadRuleError(f"{path}: Resources.{RULE} needs an EventPattern and a target with an InputTransformer")
    return {"EventPattern": properties["EventPattern"], "InputTransformer": targets[0]["InputTransformer"]}


def object_created_event(
    bucket: str, key: str, *, size: int, etag: str, region: str = "us-east-1", account: str = "123456789012"
) -> dict[str, Any]:
    """An ``Object Created`` event as S3 sends it to EventBridge (the S3 documentation's example shape)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": now,
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": etag.strip('"'), "sequencer": uuid.uuid4().hex[:18]},
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for what the rule uses: nested fields, value lists, ``{"prefix": ...}``."""
    if isinstance(pattern, Mapping):
        if not isinstance(event, Mapping):
            return False
        return all(field in event and matches(value, event[field]) for field, value in pattern.items())
    if isinstance(pattern, list):
        return any(_value_matches(option, event) for option in pattern)
    raise UploadRuleError(f"unsupported event pattern element {pattern!r}")


def _value_matches(option: Any, value: Any) -> bool:
    if isinstance(option, Mapping):
        if set(option) == {"prefix"}:
            return isinstance(value, str) and value.startswith(option["prefix"])
        raise UploadRuleError(f"unsupported content filter {option!r}")
    return option == value


def _path_value(event: Mapping[str, Any], path: str) -> Any:
    if not path.startswith("$."):
        raise UploadRuleError(f"InputPathsMap path {path!r} must start with '$.'")
    value: Any = event
    for part in path[2:].split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def transform(transformer: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """Apply an InputTransformer: a placeholder outside quotes becomes the JSON value (a string keeps its
    characters, escaped for JSON only), as EventBridge does."""
    values = {name: _path_value(event, path) for name, path in (transformer.get("InputPathsMap") or {}).items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise UploadRuleError(f"InputTemplate placeholder <{name}> is not in InputPathsMap")
        return json.dumps(values[name], ensure_ascii=False)

    return json.loads(_PLACEHOLDER.sub(substitute, transformer["InputTemplate"]))


def execution_input(rule: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The per-image machine's input for ``event``, or None when the rule does not match it."""
    if not matches(rule["EventPattern"], event):
        return None
    return transform(rule["InputTransformer"], event)


def execution_name(key: str) -> str:
    """A valid, unique execution name for an upload (names allow no spaces, slashes or most punctuation)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", key.rsplit("/", 1)[-1]).strip("-")[:40] or "upload"
    return f"upload-{stem}-{uuid.uuid4().hex[:12]}"

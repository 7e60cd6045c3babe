"""Cost per million images on AWS: a small, explicit model over measured figures and a prices file.

Inputs: ``pricing/measured.json`` (``benchmarks/handler_benchmark.py``: each handler's time per call and the
memory its process needs; the model's busy time per image) and ``pricing/aws-<region>.json`` (list prices, with
the date they were recorded and their sources). Assumptions, each visible in the output's notes:

* a handler's duration does not change with the architecture (not measured here: no arm64 machine); its
  CPU-bound share scales with Lambda's CPU allocation (proportional to memory up to 1,769 MB = 1 vCPU), the
  time classify waits on the endpoint does not;
* a batch child runs the chain's happy path (state transitions counted from the ASL files); it lives as long as
  its handlers plus a fixed overhead per Lambda task and per S3 call (``TASK_OVERHEAD_S``, ``S3_CALL_S``);
* the real-time endpoint is billed per instance-hour whatever its load; Serverless Inference per second of
  inference at its memory size, plus data in and out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from imageflow.paths import REPO_ROOT

PRICES = REPO_ROOT / "pricing" / "aws-us-east-1.json"
MEASURED = REPO_ROOT / "pricing" / "measured.json"
MILLION = 1_000_000
FULL_VCPU_MB = 1769
TASK_OVERHEAD_S = 0.03  # Step Functions -> Lambda -> Step Functions, per task (an estimate, not measured)
S3_CALL_S = 0.02  # one S3 request from a state (an estimate)
# configured memory of each function (serverless.yml) and which share of its time is CPU-bound
HANDLER_CPU_BOUND = {"serialize": 1.0, "classify": 0.2, "threshold": 1.0}


class CostInputError(ValueError):
    """A prices or measurements file lacks a figure the model needs (the message names file and field)."""


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CostInputError(f"{path} does not exist (see README 'What it costs')") from None
    except json.JSONDecodeError as exc:
        raise CostInputError(f"{path}: not JSON ({exc})") from None


def _get(document: Mapping[str, Any], dotted: str, path: Path) -> Any:
    value: Any = document
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise CostInputError(f"{path}: missing {dotted}")
        value = value[part]
    return value


def configured_memory_mb(serverless_yml: Path = REPO_ROOT / "serverless.yml") -> dict[str, int]:
    document = yaml.safe_load(serverless_yml.read_text(encoding="utf-8"))
    default = int(document["provider"].get("memorySize", 1024))
    return {name: int(spec.get("memorySize", default)) for name, spec in document["functions"].items()}


def happy_path_transitions(states: Mapping[str, Any], start: str) -> int:
    """State transitions of one run down the default path (Next, a Choice's Default; a Parallel's branches)."""
    count, name, seen = 0, start, set()
    while name and name not in seen:
        seen.add(name)
        state = states[name]
        count += 1
        if state.get("Type") == "Parallel":
            count += sum(happy_path_transitions(branch["States"], branch["StartAt"]) for branch in state["Branches"])
        name = state.get("Next") or state.get("Default")
    return count


def chain_transitions() -> tuple[int, int]:
    """Transitions per image: the per-image machine alone, and a classifyBatch child."""
    from imageflow.runner.definition import BATCH_DEFINITION_PATH, DEFINITION_PATH, load_definition

    single = load_definition(DEFINITION_PATH)
    batch = load_definition(BATCH_DEFINITION_PATH, {"self:custom.imagesBucketName": "bucket"})
    processor = batch["States"]["ClassifyImages"]["ItemProcessor"]
    return (
        happy_path_transitions(single["States"], single["StartAt"]),
        happy_path_transitions(processor["States"], processor["StartAt"]),
    )


@dataclass(frozen=True)
class Row:
    what: str
    per_million: float
    note: str = ""


def lambda_cost(
    measured: Mapping[str, Any], prices: Mapping[str, Any], architecture: str, memory: Mapping[str, int]
) -> float:
    """Lambda requests and GB-seconds of the three handlers for a million images."""
    total = 3 * prices["lambda"]["request_per_million"]
    for name, figures in measured["handlers"].items():
        megabytes = memory[name]
        cpu_share = HANDLER_CPU_BOUND.get(name, 1.0)
        # the handler was measured with a whole core; below 1,769 MB Lambda gives a proportional share
        slowdown = max(1.0, FULL_VCPU_MB / megabytes)
        seconds = figures["seconds_mean"] * (cpu_share * slowdown + (1 - cpu_share))
        total += MILLION * seconds * megabytes / 1024 * prices["lambda"]["gb_second"][architecture]
    return total


def child_seconds(measured: Mapping[str, Any], s3_calls: int) -> float:
    handlers = sum(figures["seconds_mean"] for figures in measured["handlers"].values())
    return handlers + len(measured["handlers"]) * TASK_OVERHEAD_S + s3_calls * S3_CALL_S


def express_child_cost(seconds: float, prices: Mapping[str, Any]) -> float:
    sfn = prices["step_functions"]
    billed = math.ceil(seconds * 1000 / sfn["express_duration_increment_ms"]) * sfn["express_duration_increment_ms"]
    gb = sfn["express_memory_increment_mb"] / 1024
    return MILLION * (sfn["express_per_million_requests"] / MILLION + billed / 1000 * gb * sfn["express_gb_second"])


def rows(
    measured_path: Path = MEASURED,
    prices_path: Path = PRICES,
    *,
    memory_sizes: tuple[int, ...] = (256, 512, 1024),
    images_per_day: int = 100_000,
    instance: str = "ml.m5.large",
    serverless_gb: int = 2,
) -> tuple[list[Row], list[str]]:
    """The cost table (per million images) and the notes that say what it assumes."""
    measured, prices = _load(measured_path), _load(prices_path)
    for field in ("handlers.serialize.seconds_mean", "handlers.classify.seconds_mean", "model_seconds_mean"):
        _get(measured, field, measured_path)
    _get(prices, "step_functions.standard_per_1000_transitions", prices_path)
    memory = configured_memory_mb()
    single, child = chain_transitions()
    s3 = prices["s3"]
    table: list[Row] = []

    # orchestration: one execution per image vs batch children
    standard = MILLION * single * prices["step_functions"]["standard_per_1000_transitions"] / 1000
    table.append(Row("orchestration: Standard execution per image (classifyImage)", standard, f"{single} transitions"))
    batch_standard = MILLION * child * prices["step_functions"]["standard_per_1000_transitions"] / 1000
    table.append(
        Row("orchestration: classifyBatch, Standard children", batch_standard, f"{child} transitions per child")
    )
    seconds = child_seconds(measured, s3_calls=2)
    express = express_child_cost(seconds, prices)
    table.append(Row("orchestration: classifyBatch, Express children (chosen)", express, f"{seconds:.2f} s per child"))
    ledger = MILLION * (s3["get_per_1000"] + s3["put_per_1000"]) / 1000 + MILLION / 1000 * s3["list_per_1000"] / 1000
    table.append(Row("S3: batch ledger (1 GET + 1 PUT per image) and listing", ledger))

    # Lambda: architectures and memory sizes
    configured = ", ".join(f"{k} {v} MB" for k, v in memory.items() if k in measured["handlers"])
    table.append(
        Row(f"Lambda x86_64, configured memory ({configured})", lambda_cost(measured, prices, "x86_64", memory))
    )
    for megabytes in memory_sizes:
        sized = {name: megabytes for name in measured["handlers"]}
        for architecture in ("x86_64", "arm64"):
            table.append(
                Row(f"Lambda {architecture}, {megabytes} MB each", lambda_cost(measured, prices, architecture, sized))
            )

    # the endpoint
    rate = 1 / measured["model_seconds_mean"]  # images per second on one core
    vcpus = prices["sagemaker"]["realtime_instance_vcpus"][instance]
    hourly = prices["sagemaker"]["realtime_instance_hour"][instance]
    saturated = MILLION / (rate * vcpus) / 3600 * hourly
    table.append(Row(f"endpoint: real-time {instance}, saturated", saturated, f"{rate * vcpus:.0f} images/s"))
    per_day = 24 * hourly / images_per_day * MILLION
    table.append(Row(f"endpoint: real-time {instance}, {images_per_day:,} images/day", per_day, "billed 24 h a day"))
    serverless_second = prices["sagemaker"]["serverless_second_by_memory_gb"][str(serverless_gb)]
    data_gb = measured["image_bytes_mean"] / 2**30 + 200 / 2**30
    serverless = MILLION * (
        measured["model_seconds_mean"] * serverless_second
        + data_gb * prices["sagemaker"]["serverless_data_processed_per_gb"]
    )
    table.append(
        Row(
            f"endpoint: Serverless Inference, {serverless_gb} GB",
            serverless,
            "per second of inference; cold starts not counted",
        )
    )

    notes = [
        f"prices: {prices_path.name}, recorded {prices['recorded']} ({prices['region']}); sources: "
        + ", ".join(prices["sources"].values()),
        f"measured: {measured_path.name}, {measured['measured']} ({measured['command']}; {measured['machine']})",
        "handler seconds (mean): "
        + ", ".join(
            f"{name} {f['seconds_mean'] * 1000:.1f} ms, needs {f['memory_needed_mb']:.0f} MB"
            for name, f in measured["handlers"].items()
        )
        + f"; model alone {measured['model_seconds_mean'] * 1000:.1f} ms per image on one core",
        "arm64 is assumed as fast as x86_64 (not measured here); below 1,769 MB a handler's CPU-bound share "
        "slows in proportion",
        f"Express child duration = handlers + {TASK_OVERHEAD_S * 1000:.0f} ms per Lambda task + "
        f"{S3_CALL_S * 1000:.0f} ms per S3 call (estimates), billed in 100 ms and 64 MB steps",
    ]
    return table, notes


def markdown(table: list[Row], notes: list[str]) -> str:
    lines = ["| per million images | USD | |", "|---|---:|---|"]
    lines += [f"| {row.what} | {row.per_million:,.2f} | {row.note} |" for row in table]
    return "\n".join(lines + [""] + [f"- {note}" for note in notes]) + "\n"

"""`imageflow serve` as a process: gunicorn workers, SageMaker's settings, 429 under overload, data capture."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

from handlers.common import aws
from handlers.common.errors import EndpointThrottledError
from tests.integration.serve_process import REPO_ROOT, ServeProcess, imageflow_serve, serving

pytestmark = pytest.mark.slow

SAMPLES = REPO_ROOT / "samples"
ENDPOINT = "image-classifier-local"
THRESHOLD = 0.73
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=60)


def runtime_client(url: str) -> Any:
    return boto3.session.Session().client("sagemaker-runtime", endpoint_url=url, config=NO_RETRIES, **CREDENTIALS)


def invoke(client: Any, sample: str = "motorcycle_left.png") -> list[float]:
    response = client.invoke_endpoint(
        EndpointName=ENDPOINT, Body=(SAMPLES / sample).read_bytes(), ContentType="image/png"
    )
    return json.loads(response["Body"].read())


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with serving(imageflow_serve("--port", "0"), {"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}) as served:
        yield served


def test_sagemaker_worker_count_sets_the_gunicorn_workers(server: ServeProcess) -> None:
    assert len(server.children()) == 3, server.log()
    assert "3 worker(s)" in server.log()


def test_master_is_single_threaded_and_never_loads_onnxruntime(server: ServeProcess) -> None:
    # onnxruntime's import starts a thread; a worker forked from a process with it hangs or aborts at exit
    assert "onnxruntime" not in Path(f"/proc/{server.pid}/maps").read_text()
    assert len(list(Path(f"/proc/{server.pid}/task").iterdir())) == 1


def test_runtime_api_answers_as_before(server: ServeProcess) -> None:
    client = runtime_client(server.url)
    bicycle, motorcycle = invoke(client)
    assert motorcycle >= THRESHOLD > bicycle
    with pytest.raises(client.exceptions.ModelError) as info:
        client.invoke_endpoint(EndpointName=ENDPOINT, Body=b"not an image", ContentType="image/png")
    assert info.value.response["OriginalStatusCode"] == 400
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    with pytest.raises(client.exceptions.ValidationError, match="Endpoint nope of account 123456789012 not found"):
        client.invoke_endpoint(EndpointName="nope", Body=b"x", ContentType="image/png")


def test_container_route_answers_as_a_model_container(server: ServeProcess) -> None:
    body = (SAMPLES / "bicycle_crop.png").read_bytes()
    request = urllib.request.Request(f"{server.url}/invocations", body, {"Content-Type": "image/png"})
    with urllib.request.urlopen(request, timeout=30) as response:
        bicycle, _ = json.loads(response.read())
    assert bicycle >= THRESHOLD
    # a model failure is the container's own status and message: SageMaker wraps it in ModelError itself
    bad = urllib.request.Request(f"{server.url}/invocations", b"%PDF-1.7", {"Content-Type": "image/png"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=30)
    assert info.value.code == 400
    assert info.value.read().decode().startswith("cannot decode the request body as an image")


def test_ping_and_unknown_route(server: ServeProcess) -> None:
    with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "Healthy"}
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.url}/nope", timeout=5)
    assert info.value.code == 404
    assert info.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"


# -- overload ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saturable_server() -> Iterator[ServeProcess]:
    """One worker that holds one invocation at a time: a handful of concurrent callers overload it."""
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "IMAGEFLOW_MAX_INFLIGHT": "1", "IMAGEFLOW_MODEL_CONCURRENCY": "1"}
    with serving(imageflow_serve("--port", "0"), env) as served:
        yield served


def flood(call: Callable[[int], object], callers: int = 16, calls: int = 4) -> list[object]:
    """Every caller's outcomes (a result or the exception raised), all callers starting together."""

    def caller(index: int) -> list[object]:
        outcomes: list[object] = []
        for n in range(calls):
            try:
                outcomes.append(call(index * calls + n))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    with ThreadPoolExecutor(max_workers=callers) as pool:
        return [outcome for outcomes in pool.map(caller, range(callers)) for outcome in outcomes]


def test_overload_is_answered_429_throttling_exception_and_no_connection_drops(
    saturable_server: ServeProcess,
) -> None:
    clients = [runtime_client(saturable_server.url) for _ in range(16)]
    outcomes = flood(lambda i: invoke(clients[i // 4], "astronaut.png"))

    dropped = [o for o in outcomes if isinstance(o, ConnectionError | HTTPClientError | ReadTimeoutError)]
    assert not dropped
    throttled = [o for o in outcomes if isinstance(o, ClientError)]
    answered = [o for o in outcomes if isinstance(o, list)]
    assert len(throttled) + len(answered) == len(outcomes), Counter(type(o).__name__ for o in outcomes)
    assert throttled and answered
    for error in throttled:
        assert error.response["Error"]["Code"] == "ThrottlingException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert "Rate exceeded" in error.response["Error"]["Message"]


def test_classify_handler_maps_the_429_to_the_retried_error(
    saturable_server: ServeProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the handler's own adapter, reaching the endpoint the way it does on Lambda: through the environment
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", saturable_server.url)
    aws.sagemaker_runtime_client.cache_clear()
    body = (SAMPLES / "astronaut.png").read_bytes()
    outcomes = flood(lambda _: aws.invoke_endpoint(ENDPOINT, body, "image/png"))

    throttled = [o for o in outcomes if isinstance(o, EndpointThrottledError)]
    assert throttled, Counter(type(o).__name__ for o in outcomes)
    assert all(isinstance(o, bytes | EndpointThrottledError) for o in outcomes), outcomes
    assert "throttled the request: Rate exceeded" in str(throttled[0])


# -- data capture from several workers ---------------------------------------------------------------------


def test_each_worker_writes_whole_capture_files_flushed_on_sigterm(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    command = imageflow_serve("--port", "0", "--capture-uri", str(capture), "--max-inflight", "64")
    with serving(command, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}) as served:
        clients = [runtime_client(served.url) for _ in range(8)]
        samples = ["motorcycle_left.png", "bicycle_crop.png", "chelsea.png", "coffee.png"]
        outcomes = flood(lambda i: invoke(clients[i // 5], samples[i % 4]), callers=8, calls=5)
        assert all(isinstance(o, list) for o in outcomes), outcomes
        assert served.stop() == 0, served.log()
        assert "SIGABRT" not in served.log()  # workers leave cleanly (no onnxruntime state from the master)

    files = sorted(capture.rglob("*"))
    assert not [f for f in files if f.suffix == ".tmp"]
    lines = [line for f in files if f.suffix == ".jsonl" for line in f.read_text().splitlines()]
    records = [json.loads(line) for line in lines]  # a torn or interleaved line would not parse
    assert len(records) == 40
    assert len({r["eventMetadata"]["eventId"] for r in records}) == 40
    assert {r["captureData"]["endpointInput"]["observedContentType"] for r in records} == {"image/png"}


# -- start-up errors ----------------------------------------------------------------------------------------


def run_serve(*options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        imageflow_serve("--port", "0", *options),
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_model_is_one_line_before_any_worker_starts(tmp_path: Path) -> None:
    result = run_serve("--model", str(tmp_path / "missing.onnx"))
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"imageflow serve: model version directory {tmp_path / 'missing.onnx'} does not exist"
    )
    assert "Booting worker" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "two", "SAGEMAKER_MODEL_SERVER_WORKERS='two' is not an integer"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "0", "SAGEMAKER_MODEL_SERVER_TIMEOUT='0' must be at least 1"),
    ],
)
def test_invalid_sagemaker_setting_names_the_variable(variable: str, value: str, message: str) -> None:
    result = run_serve(env={variable: value})
    assert result.returncode == 2
    assert result.stderr.startswith(f"imageflow serve: {message}")

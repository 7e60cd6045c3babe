"""`imageflow-container serve|train` as processes against a temporary /opt/ml tree (no Docker engine here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from imageflow.localcloud.services import free_port
from tests.integration.serve_process import REPO_ROOT, ServeProcess, python_command, serving

pytestmark = pytest.mark.slow

SAMPLES = REPO_ROOT / "samples"
CONTAINER = str(Path(sys.executable).parent / "imageflow-container")
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

# The container entry point with the model loader replaced by the shipped default model, imported lazily
# (in the worker) as load_model_dir is: the master must not load onnxruntime.
SERVE_WITH_DEFAULT_MODEL = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from imageflow import container

    def load(model_dir, *, threads=None):
        from imageflow.endpoint.model import ImageClassifier
        assert model_dir == Path(os.environ["IMAGEFLOW_OPT_ML"]) / "model", model_dir
        return ImageClassifier.from_files(threads=threads)

    sys.exit(container.main(["serve"], load_model=load))
    """
)


def opt_ml(root: Path) -> dict[str, str]:
    (root / "model").mkdir(parents=True, exist_ok=True)
    return {
        "IMAGEFLOW_OPT_ML": str(root),
        "SAGEMAKER_BIND_TO_PORT": str(free_port()),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
    }


def post(url: str, body: bytes, content_type: str = "image/png") -> tuple[int, bytes]:
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    env = opt_ml(tmp_path_factory.mktemp("opt-ml"))
    with serving(python_command("-c", SERVE_WITH_DEFAULT_MODEL), env) as served:
        assert served.url.endswith(f":{env['SAGEMAKER_BIND_TO_PORT']}")
        yield served


def test_container_answers_ping_and_invocations(container: ServeProcess) -> None:
    with urllib.request.urlopen(f"{container.url}/ping", timeout=5) as response:
        assert response.status == 200
    status, body = post(container.url, (SAMPLES / "motorcycle_left.png").read_bytes())
    assert status == 200
    bicycle, motorcycle = json.loads(body)
    assert motorcycle >= 0.73 > bicycle


def test_container_model_failure_is_its_own_status_for_sagemaker_to_wrap(container: ServeProcess) -> None:
    status, body = post(container.url, b"not an image")
    assert status == 400
    assert body.decode().startswith("cannot decode the request body as an image")
    status, body = post(container.url, (SAMPLES / "chelsea.png").read_bytes(), "text/csv")
    assert status == 415


def test_container_serves_the_runtime_api_too(container: ServeProcess) -> None:
    client = boto3.client("sagemaker-runtime", endpoint_url=container.url, **CREDENTIALS)
    response = client.invoke_endpoint(
        EndpointName="model", Body=(SAMPLES / "bicycle_crop.png").read_bytes(), ContentType="image/png"
    )
    assert json.loads(response["Body"].read())[0] >= 0.73


def run_container(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONTAINER, command], env={**os.environ, **env}, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )


def test_serve_without_a_model_directory_says_where_it_looked(tmp_path: Path) -> None:
    result = run_container("serve", {"IMAGEFLOW_OPT_ML": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"imageflow-container serve: no model directory {tmp_path / 'model'} "
        "(SageMaker unpacks the model artifact there)"
    )


def test_serve_with_an_invalid_port_variable_names_it(tmp_path: Path) -> None:
    result = run_container("serve", {**opt_ml(tmp_path), "SAGEMAKER_BIND_TO_PORT": "http"})
    assert result.returncode == 2
    assert "SAGEMAKER_BIND_TO_PORT='http' is not a TCP port (1-65535)" in result.stderr


def write_contract_model(model_dir: Path, labels: list[str]) -> None:
    """A tiny model version in the contract layout: "image" [N,3,224,224] -> "probabilities" [N,L]."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.arange(3 * len(labels), dtype=np.float32).reshape(3, len(labels)), "w")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "contract",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(labels)])],
        [weights],
    )
    # an IR version every supported onnxruntime reads (the onnx package writes its newest by default)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    model_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_dir / "model.onnx")
    (model_dir / "labels.json").write_text(json.dumps({"labels": labels}))
    (model_dir / "metadata.json").write_text(json.dumps({"version": "contract-test"}))


def test_imageflow_container_serve_serves_a_model_version_from_opt_ml(tmp_path: Path) -> None:
    env = opt_ml(tmp_path)
    write_contract_model(tmp_path / "model", ["bicycle", "motorcycle"])
    with serving([CONTAINER, "serve"], env) as served:
        status, body = post(served.url, (SAMPLES / "motorcycle_left.png").read_bytes())
    assert status == 200
    probabilities = json.loads(body)
    assert len(probabilities) == 2
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)

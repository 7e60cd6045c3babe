"""The WSGI application without a server: request bodies, routes and both error styles."""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.service import MAX_PAYLOAD_BYTES, LocalEndpoint
from imageflow.endpoint.wsgi import EndpointApp
from tests.helpers import make_image

NAME = "wsgi-endpoint"


@pytest.fixture(scope="module")
def app() -> EndpointApp:
    return EndpointApp(LocalEndpoint(ImageClassifier.from_files(threads=1), NAME), max_inflight=4)


def call(
    app: EndpointApp, path: str, body: bytes = b"", method: str = "POST", **environ: Any
) -> tuple[str, dict, bytes]:
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": "image/png"}
    env["wsgi.input"] = stream = io.BytesIO(body)
    if "CONTENT_LENGTH" not in environ and not environ.get("wsgi.input_terminated"):
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(environ)
    setup_testing_defaults(env)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer.update(status=status, headers=dict(headers))

    payload = b"".join(app(env, start_response))
    answer["headers"]["_drained"] = stream.tell() == len(body)
    return answer["status"], answer["headers"], payload


def test_runtime_route_classifies(app: EndpointApp) -> None:
    status, headers, body = call(app, f"/endpoints/{NAME}/invocations", make_image())
    assert status == "200 OK"
    assert headers["x-Amzn-Invoked-Production-Variant"] == "AllTraffic"
    assert len(json.loads(body)) == 2


def test_chunked_body_decoded_by_the_server_is_read_to_its_end(app: EndpointApp) -> None:
    status, _, body = call(app, "/invocations", make_image(), CONTENT_LENGTH="", **{"wsgi.input_terminated": True})
    assert status == "200 OK" and len(json.loads(body)) == 2


def test_oversized_body_is_a_validation_error_and_is_drained(app: EndpointApp) -> None:
    size = MAX_PAYLOAD_BYTES + 1000
    status, headers, body = call(app, f"/endpoints/{NAME}/invocations", b"\0" * size)
    assert status == "400 Bad Request"
    assert headers["x-amzn-ErrorType"] == "ValidationError"
    assert json.loads(body)["message"] == (
        f"Request payload of {size} bytes exceeds the InvokeEndpoint limit of {MAX_PAYLOAD_BYTES} bytes."
    )
    assert headers["_drained"]  # the connection can carry the answer and the next request


def test_invalid_content_length_is_a_validation_error(app: EndpointApp) -> None:
    status, _, body = call(app, "/invocations", b"", CONTENT_LENGTH="ten")
    assert status == "400 Bad Request"
    assert json.loads(body) == {"__type": "ValidationError", "message": "Invalid Content-Length 'ten'"}


def test_model_errors_runtime_style_and_container_style(app: EndpointApp) -> None:
    status, headers, body = call(app, f"/endpoints/{NAME}/invocations", b"GIF89a-broken", CONTENT_TYPE="text/csv")
    assert (status, headers["x-amzn-ErrorType"]) == ("424 Failed Dependency", "ModelError")
    assert json.loads(body)["OriginalStatusCode"] == 415
    status, headers, body = call(app, "/invocations", b"GIF89a-broken", CONTENT_TYPE="text/csv")
    assert status == "415 Unsupported Media Type"
    assert headers["Content-Type"] == "text/plain"
    assert body.decode().startswith("Unsupported content type 'text/csv'")


@pytest.mark.parametrize(("method", "path"), [("GET", "/invocations"), ("POST", "/ping"), ("PUT", "/other")])
def test_unknown_routes_are_404(app: EndpointApp, method: str, path: str) -> None:
    status, _, body = call(app, path, method=method)
    assert status == "404 Not Found"
    assert json.loads(body) == {"__type": "UnknownOperationException", "message": f"No route for {method} {path}"}

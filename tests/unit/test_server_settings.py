"""gunicorn's settings from SageMaker's environment variables and `imageflow serve` options."""

from __future__ import annotations

import os
import socket

import pytest

from imageflow.endpoint.gunicorn_app import GunicornEndpoint, ServerSettings, ServerSettingsError
from imageflow.endpoint.service import LocalEndpoint


def test_defaults_on_two_cores() -> None:
    settings = ServerSettings.from_environment({}, cpus=2)
    assert (settings.workers, settings.timeout) == (2, 60)
    assert (settings.max_inflight, settings.concurrency, settings.http_threads) == (32, 2, 48)
    assert settings.model_threads == 1  # two workers share the two cores


def test_sagemaker_variables_set_workers_and_timeout() -> None:
    environ = {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_TIMEOUT": " 120 "}
    settings = ServerSettings.from_environment(environ, cpus=8)
    assert (settings.workers, settings.timeout) == (3, 120)
    assert settings.model_threads == 2  # 8 CPUs shared by 3 workers


def test_project_variables_set_admission_and_threads() -> None:
    environ = {"IMAGEFLOW_MAX_INFLIGHT": "1", "IMAGEFLOW_MODEL_CONCURRENCY": "1", "IMAGEFLOW_HTTP_THREADS": "4"}
    settings = ServerSettings.from_environment(environ, cpus=2)
    assert (settings.max_inflight, settings.concurrency, settings.http_threads) == (1, 1, 4)
    # request threads follow the in-flight limit unless set
    assert ServerSettings.from_environment({"IMAGEFLOW_MAX_INFLIGHT": "100"}, cpus=2).http_threads == 116


def test_too_few_request_threads_to_answer_429s_is_refused() -> None:
    with pytest.raises(ServerSettingsError, match=r"--http-threads \(8\) must exceed the in-flight limit"):
        ServerSettings.from_environment({"IMAGEFLOW_MAX_INFLIGHT": "8"}, cpus=2, http_threads=8)


def test_options_override_the_environment() -> None:
    environ = {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120"}
    settings = ServerSettings.from_environment(environ, cpus=2, workers=1, timeout=None, model_threads=2)
    assert (settings.workers, settings.timeout, settings.model_threads) == (1, 120, 2)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "auto"}, "SAGEMAKER_MODEL_SERVER_WORKERS='auto' is not an integer"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "SAGEMAKER_MODEL_SERVER_WORKERS='0' must be at least 1"),
        ({"SAGEMAKER_MODEL_SERVER_TIMEOUT": "1.5"}, "SAGEMAKER_MODEL_SERVER_TIMEOUT='1.5' is not an integer"),
        ({"IMAGEFLOW_MAX_INFLIGHT": "-2"}, "IMAGEFLOW_MAX_INFLIGHT='-2' must be at least 1"),
    ],
)
def test_invalid_variable_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ServerSettingsError, match=message.replace("(", r"\(")):
        ServerSettings.from_environment(environ, cpus=2)


def test_invalid_option_is_named() -> None:
    with pytest.raises(ServerSettingsError, match="--max-inflight must be a positive integer, not 0"):
        ServerSettings.from_environment({}, cpus=2, max_inflight=0)


def never_called() -> LocalEndpoint:
    raise AssertionError("only workers build the endpoint")


def test_gunicorn_receives_the_settings() -> None:
    settings = ServerSettings.from_environment(
        {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "45", "IMAGEFLOW_HTTP_THREADS": "40"},
        cpus=2,
    )
    app = GunicornEndpoint(never_called, settings, socket.socket())
    try:
        cfg = app.cfg
        assert (cfg.workers, cfg.threads, cfg.worker_class_str) == (3, 40, "gthread")
        assert (cfg.timeout, cfg.graceful_timeout) == (45, 45)
        assert cfg.backlog == 2048 and cfg.keepalive == 75 and cfg.worker_connections == 1000
        assert cfg.preload_app is False  # each worker loads its own model after the fork
        assert cfg.control_socket_disable is True
        assert cfg.bind == [f"fd://{app._fd}"]
    finally:
        os.close(app._fd)

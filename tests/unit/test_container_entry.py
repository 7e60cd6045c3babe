"""`imageflow-container`: where it looks for /opt/ml and which port it serves on."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageflow import container
from imageflow.endpoint.gunicorn_app import ServerSettingsError


def test_opt_ml_root_defaults_to_sagemakers_and_can_be_moved_for_tests() -> None:
    assert container.opt_ml_root({}) == Path("/opt/ml")
    assert container.opt_ml_root({"IMAGEFLOW_OPT_ML": "/tmp/x"}) == Path("/tmp/x")


def test_port_is_8080_unless_sagemaker_binds_another() -> None:
    assert container._port({}) == 8080
    assert container._port({"SAGEMAKER_BIND_TO_PORT": "9081"}) == 9081


@pytest.mark.parametrize("value", ["0", "65536", "http", "-1"])
def test_invalid_port_variable_is_named(value: str) -> None:
    with pytest.raises(ServerSettingsError, match=f"SAGEMAKER_BIND_TO_PORT='{value}' is not a TCP port"):
        container._port({"SAGEMAKER_BIND_TO_PORT": value})


def test_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        container.main(["deploy"])
    assert info.value.code == 2
    assert "invalid choice: 'deploy'" in capsys.readouterr().err

"""`imageflow local start|stop|status|env`: lifecycle and the clear messages for the usual mistakes."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from imageflow.cli import main
from imageflow.localcloud import envfile, settings
from imageflow.localcloud.services import LocalCloud, free_port, port_is_free


def test_env_file_can_be_sourced_and_names_every_variable() -> None:
    text = envfile.render(envfile.local_environment(4566, 8080))
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:4566\n" in text
    assert "export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080\n" in text
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION", "ENDPOINT_NAME"):
        assert f"export {name}=" in text


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind((settings.HOST, 0))
        listener.listen()
        assert not port_is_free(listener.getsockname()[1])
    assert port_is_free(free_port())


def test_stop_when_not_running_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "--state-dir", str(tmp_path), "stop"]) == 0
    assert "not running (nothing to stop)" in capsys.readouterr().out


def test_status_and_env_when_not_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "--state-dir", str(tmp_path), "status"]) == 1
    assert "not running" in capsys.readouterr().out
    assert main(["local", "--state-dir", str(tmp_path), "env"]) == 1
    assert "imageflow local start" in capsys.readouterr().err


def test_port_in_use_is_refused_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as squatter:
        squatter.bind((settings.HOST, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        code = main(["local", "--state-dir", str(tmp_path), "start", "--aws-port", str(port),
                     "--endpoint-port", str(free_port())])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use by another program" in err
    assert "--aws-port" in err
    assert not (tmp_path / "localcloud.json").exists()


@pytest.mark.slow
def test_start_twice_then_stop(
    local_cloud: tuple[LocalCloud, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, env = local_cloud
    state = ["local", "--state-dir", str(cloud.state_dir)]
    assert main([*state, "status"]) == 0
    assert "answering" in capsys.readouterr().out
    with urllib.request.urlopen(env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] + "/ping", timeout=10) as response:
        assert response.status == 200

    assert main([*state, "start", "--aws-port", str(free_port()), "--endpoint-port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert "already running" in err and "imageflow local stop" in err

    assert main([*state, "env"]) == 0
    assert f"export AWS_ENDPOINT_URL={env['AWS_ENDPOINT_URL']}" in capsys.readouterr().out
    assert cloud.env_file.read_text() == envfile.render(env)

"""Input expansion and execution naming for ``imageflow run`` (pure, local files only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imageflow.runner.inputs import ImageInput, InputError, execution_name, expand_inputs, parse_s3_uri, upload_key


def test_folders_are_walked_recursively_sorted_without_hidden(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    for name in ("z.png", "a.txt", ".DS_Store", "b/c.jpg", ".git/x.png"):
        (tmp_path / name).write_bytes(b"x")
    sources = [Path(item.source).relative_to(tmp_path).as_posix() for item in expand_inputs([str(tmp_path)])]
    assert sources == ["a.txt", "z.png", "b/c.jpg"]


def test_same_file_twice_is_one_input(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    assert len(expand_inputs([str(image), str(tmp_path)])) == 1


@pytest.mark.parametrize("make", ["missing", "empty-folder"])
def test_usage_errors(tmp_path: Path, make: str) -> None:
    target = tmp_path / make
    if make == "empty-folder":
        target.mkdir()
    with pytest.raises(InputError):
        expand_inputs([str(target)])


def test_s3_uri_parsing() -> None:
    assert parse_s3_uri("s3://bucket/some/prefix") == ("bucket", "some/prefix")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    with pytest.raises(InputError):
        parse_s3_uri("s3:///prefix")


def test_execution_names_are_valid_and_unique() -> None:
    weird = ImageInput("x", path=Path("a photo [1] #2 ünïcode.and.dots.png"))
    names = {execution_name("run-20260101T000000-abc123", i, weird) for i in range(3)}
    assert len(names) == 3
    for name in names:
        assert 1 <= len(name) <= 80 and re.fullmatch(r"[A-Za-z0-9_.-]+", name)
    long = ImageInput("x", path=Path("n" * 200 + ".png"))
    assert len(execution_name("run-x", 1, long)) == 80


def test_upload_keys_keep_same_named_files_apart() -> None:
    first, second = ImageInput("a/x.png", path=Path("a/x.png")), ImageInput("b/x.png", path=Path("b/x.png"))
    assert upload_key("r", 0, first) != upload_key("r", 1, second)
    assert upload_key("r", 0, first).endswith("x.png")

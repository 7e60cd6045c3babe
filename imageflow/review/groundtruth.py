"""SageMaker Ground Truth's formats: the input manifest out, the output manifest (or a plain CSV) in.

* Input manifest: one ``{"source-ref": "s3://..."}`` line per image; the label-categories file an
  image-classification labelling job takes: ``{"document-version": "2018-11-28", "labels": [{"label": ...}]}``.
* Output manifest: the input line plus the job's label attribute (named after the job) holding the class
  index, and ``<name>-metadata`` with ``class-name``, ``confidence``, ``human-annotated`` and
  ``type: groundtruth/image-classification``. An item the job could not label carries ``failure-reason``.
* CSV: ``s3_uri,label`` per line (a header line with those names is allowed).

Parsing checks every line and collects every problem, each naming the file and line: the caller imports
all lines or none.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CATEGORIES_VERSION = "2018-11-28"
CLASSIFICATION_TYPE = "groundtruth/image-classification"


class LabelFileError(ValueError):
    """The labels file cannot be imported; ``problems`` lists each bad line."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{path}: {len(self.problems)} problem(s), nothing imported:\n{shown}{more}")


@dataclass(frozen=True)
class Label:
    """One labelled image: which queue image, which label, and who said so."""

    source_ref: str
    label: str
    line: int
    annotator: str  # e.g. "groundtruth:my-job (human-annotated yes, confidence 0.95)" or "csv"


def input_manifest_lines(source_refs: Sequence[str]) -> str:
    return "".join(json.dumps({"source-ref": ref}) + "\n" for ref in source_refs)


def label_categories(labels: Sequence[str]) -> str:
    return json.dumps({"document-version": CATEGORIES_VERSION, "labels": [{"label": x} for x in labels]}, indent=2)


def categories_path(manifest: Path) -> Path:
    """Where the label-categories file goes beside a manifest: ``NAME.manifest`` -> ``NAME.label-categories.json``."""
    return manifest.with_name(manifest.stem + ".label-categories.json")


def read_labels(path: Path, labels: Sequence[str], known_refs: set[str]) -> list[Label]:
    """Every label in ``path`` (output manifest or CSV); raises ``LabelFileError`` listing every bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelFileError(path, [f"cannot read: {exc}"]) from None
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    parse = _parse_csv if path.suffix.lower() == ".csv" or (first and not first.startswith("{")) else _parse_manifest
    found, problems = parse(text, labels)
    seen: dict[str, Label] = {}
    for item in found:
        if item.source_ref not in known_refs:
            problems.append(f"line {item.line}: {item.source_ref} is not in the review queue")
        elif item.source_ref in seen and seen[item.source_ref].label != item.label:
            problems.append(
                f"line {item.line}: {item.source_ref} labelled {item.label!r}, but {seen[item.source_ref].label!r} "
                f"on line {seen[item.source_ref].line}"
            )
        seen.setdefault(item.source_ref, item)
    if not found and not problems:
        problems.append("no labelled lines")
    if problems:
        raise LabelFileError(path, sorted(problems, key=_line_number))
    return list(seen.values())


def _line_number(problem: str) -> int:
    try:
        return int(problem.split(":")[0].removeprefix("line "))
    except ValueError:
        return 0


def _parse_manifest(text: str, labels: Sequence[str]) -> tuple[list[Label], list[str]]:
    found, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: malformed JSON ({exc.msg} at column {exc.colno})")
            continue
        result = _manifest_label(line, labels, number)
        if isinstance(result, str):
            problems.append(f"line {number}: {result}")
        else:
            found.append(result)
    return found, problems


def _manifest_label(line: object, labels: Sequence[str], number: int) -> Label | str:
    if not isinstance(line, Mapping):
        return "malformed line: expected a JSON object"
    ref = line.get("source-ref")
    if not isinstance(ref, str) or not ref.startswith("s3://"):
        return "malformed line: no 's3://...' source-ref"
    # the job's name: the key with a "<name>-metadata" mapping (a failed item has only the metadata)
    names = [k[: -len("-metadata")] for k, v in line.items() if k.endswith("-metadata") and isinstance(v, Mapping)]
    if len(names) != 1:
        return f"{ref}: expected one label attribute with a matching '<name>-metadata', found {len(names)}"
    name = names[0]
    metadata = line[f"{name}-metadata"]
    if "failure-reason" in metadata:
        return f"{ref}: the labelling job marked this item as failed: {metadata['failure-reason']}"
    if metadata.get("type") != CLASSIFICATION_TYPE:
        return f"{ref}: {name}-metadata type is {metadata.get('type')!r}, not {CLASSIFICATION_TYPE!r}"
    missing = [k for k in ("class-name", "confidence", "human-annotated") if k not in metadata]
    if missing:
        return f"{ref}: {name}-metadata lacks {', '.join(missing)}"
    class_name = metadata["class-name"]
    if class_name not in labels:
        return f"{ref}: unknown label {class_name!r} (labels: {', '.join(labels)})"
    index = line.get(name)
    if not isinstance(index, int) or isinstance(index, bool) or index != list(labels).index(class_name):
        return f"{ref}: {name} is {index!r}, but class-name {class_name!r} is category {list(labels).index(class_name)}"
    annotator = (
        f"groundtruth:{name} (human-annotated {metadata['human-annotated']}, confidence {metadata['confidence']})"
    )
    return Label(ref, class_name, number, annotator)


def _parse_csv(text: str, labels: Sequence[str]) -> tuple[list[Label], list[str]]:
    found, problems = [], []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if number == 1 and [c.lower() for c in cells] == ["s3_uri", "label"]:
            continue
        if len(cells) != 2 or not cells[0].startswith("s3://"):
            problems.append(f"line {number}: malformed line: expected 's3_uri,label', got {','.join(row)!r}")
        elif cells[1] not in labels:
            problems.append(f"line {number}: {cells[0]}: unknown label {cells[1]!r} (labels: {', '.join(labels)})")
        else:
            found.append(Label(cells[0], cells[1], number, "csv"))
    return found, problems

"""Which model a command serves: ``--model DIR`` when given, else the registry's approved version."""

from __future__ import annotations

from pathlib import Path

from imageflow.endpoint.model import ImageClassifier, ModelLoadError, load_model_dir


def served_model_dir(model: Path | None) -> Path:
    """``model`` itself, or the approved version's directory (model.onnx assembled if needed)."""
    if model is not None:
        return Path(model)
    from imageflow.registry.store import Registry, RegistryError

    try:
        return Registry.open().served_directory()
    except RegistryError as exc:
        raise ModelLoadError(str(exc)) from None


def load_served_classifier(model: Path | None, *, threads: int | None = None) -> ImageClassifier:
    """Load ``--model DIR`` or the approved version; raises ``ModelLoadError`` with a one-line reason."""
    return load_model_dir(served_model_dir(model), threads=threads)

"""Where the project's files are, whether run from a checkout or an editable install."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
SAMPLES_DIR = REPO_ROOT / "samples"

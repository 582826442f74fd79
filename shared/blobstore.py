"""Content-addressed blob storage for audio; a local directory by default.

Keys are sha256 digests, so storing the same audio twice (a redelivered chunk) is a no-op and
a blob's URI is also its integrity check.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


class BlobNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class StoredBlob:
    uri: str
    sha256: str
    size_bytes: int


class LocalBlobStore:
    """Blobs under ``root/ab/cd/<sha256><suffix>``, written atomically (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_url(cls, url: str) -> LocalBlobStore:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            raise ValueError(f"unsupported blob store URL {url!r}: use file:///path")
        return cls(Path(parsed.path))

    def _path(self, digest: str, suffix: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / f"{digest}{suffix}"

    def put(self, data: bytes, suffix: str = "") -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest, suffix)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredBlob(uri=path.resolve().as_uri(), sha256=digest, size_bytes=len(data))

    def get(self, uri: str) -> bytes:
        path = Path(urlparse(uri).path)
        if not path.is_relative_to(self.root.resolve()):
            raise BlobNotFound(f"{uri} is outside this blob store ({self.root})")
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob at {uri}") from None

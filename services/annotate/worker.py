"""``nlp.pipe`` in a child process, fed in chunks.

In the service process the Kafka network thread, the outbox relay and the gRPC server all want
the GIL while the consumer thread labels; spaCy holds it for most of its work, so measured
in the service the same ``nlp.pipe`` ran 1.6 times slower than alone. The child process has the
pipelines to itself; the parent sends a batch in chunks and works on chunk k (rules, mapping to
words) while the child runs chunk k+1.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Result = tuple[list[tuple[int, int, str]], Mapping[str, float]]  # entities (start, end, label), cats
CHUNK = 32  # texts per request


def _serve(settings_json: str, requests: Any, results: Any) -> None:
    from services.annotate.labeller import build_pipeline, configured_languages
    from services.annotate.settings import AnnotateSettings

    settings = AnnotateSettings.model_validate_json(settings_json)
    pipelines = {
        language: build_pipeline(language, settings, {}).nlp for language in configured_languages(settings)
    }
    results.put(("ready", None))
    while (request := requests.get()) is not None:
        language, texts, batch_size = request
        if texts is None:  # a promoted classifier: rebuild this language's pipeline on next use
            pipelines.pop(language, None)
            results.put(("ok", []))
            continue
        try:
            if language not in pipelines:
                pipelines[language] = build_pipeline(language, settings, {}).nlp
            docs = pipelines[language].pipe(texts, batch_size=batch_size)
            out = [([(e.start_char, e.end_char, e.label_) for e in d.ents], dict(d.cats)) for d in docs]
            results.put(("ok", out))
        except Exception as exc:  # reported to the caller, who raises it in the handler
            results.put(("error", repr(exc)))


class NlpWorker:
    """One child process per service process; ``pipe`` is safe to call from several threads."""

    def __init__(self, settings_json: str) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._requests = ctx.Queue()
        self._results = ctx.Queue()
        self._process = ctx.Process(
            target=_serve, args=(settings_json, self._requests, self._results), name="nlp", daemon=True
        )
        self._process.start()
        self._lock = threading.Lock()
        self._take(timeout_s=120)  # "ready"

    def _take(self, timeout_s: float = 300) -> Any:
        status, payload = self._results.get(timeout=timeout_s)
        if status == "error":
            raise RuntimeError(f"the nlp worker failed: {payload}")
        return payload

    def pipe(self, language: str, texts: Sequence[str], batch_size: int) -> Iterator[Result]:
        """Each text's entities and categories, in order; the next chunk is sent before the
        current one is handed back, so the child never waits for the caller."""
        chunks = [list(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)]
        with self._lock:
            sent = taken = 0
            try:
                if chunks:
                    self._requests.put((language, chunks[0], batch_size))
                    sent = 1
                for n in range(len(chunks)):
                    if n + 1 < len(chunks):
                        self._requests.put((language, chunks[n + 1], batch_size))
                        sent += 1
                    taken += 1
                    yield from self._take()
            finally:  # a caller that stops early (an error) leaves no answer behind for the next
                for _ in range(sent - taken):
                    self._results.get(timeout=300)

    def reload(self, language: str) -> None:
        """Drop the language's pipeline in the child; the next request loads the current models."""
        with self._lock:
            self._requests.put((language, None, 0))
            self._take()

    def close(self) -> None:
        self._requests.put(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

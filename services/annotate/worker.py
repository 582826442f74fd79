"""``nlp.pipe`` in a child process, fed requests that queue up.

In the service process the Kafka network thread, the outbox relay and the gRPC server all want
the GIL while the consumer thread labels; spaCy holds it for most of its work, so measured
in the service the same ``nlp.pipe`` ran 1.6 times slower than alone. The child process has the
pipelines to itself. Requests are answered in the order they were sent, each with a future, so
the parent can queue a batch (or the next poll's, ``Labeller.prefetch``) and go on with its
own work (rules, mapping to words, the database) while the child runs.
"""

from __future__ import annotations

import collections
import multiprocessing
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

Result = tuple[list[tuple[int, int, str]], Mapping[str, float]]  # entities (start, end, label), cats
Promise = tuple[Future[list[Result]], int]  # a queued request and a text's place in it
TIMEOUT_S = 300.0


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
    """One child process per service process; safe to call from several threads."""

    def __init__(self, settings_json: str) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._requests = ctx.Queue()
        self._results = ctx.Queue()
        self._process = ctx.Process(
            target=_serve, args=(settings_json, self._requests, self._results), name="nlp", daemon=True
        )
        self._process.start()
        status, payload = self._results.get(timeout=120)
        if status != "ready":
            raise RuntimeError(f"the nlp worker did not start: {payload}")
        self._lock = threading.Lock()  # a request and its future are queued together
        self.sent = 0  # requests so far
        self._waiting: collections.deque[Future[list[Result]]] = collections.deque()
        self._reader = threading.Thread(target=self._read, name="nlp-results", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Hand each answer to the oldest waiting future; fail them all if the child dies."""
        while True:
            try:
                status, payload = self._results.get(timeout=1.0)
            except queue.Empty:
                if self._process.is_alive():
                    continue
                status, payload = "dead", f"exit code {self._process.exitcode}"
            except (EOFError, OSError):  # closed
                status, payload = "dead", "its queue closed"
            if status == "dead":
                with self._lock:
                    while self._waiting:
                        self._waiting.popleft().set_exception(
                            RuntimeError(f"the nlp worker process died: {payload}")
                        )
                return
            with self._lock:
                future = self._waiting.popleft()
            if status == "error":
                future.set_exception(RuntimeError(f"the nlp worker failed: {payload}"))
            else:
                future.set_result(payload)

    def submit(self, language: str, texts: Sequence[str] | None, batch_size: int) -> Future[list[Result]]:
        """Queue one request; its future holds each text's entities and categories, in order."""
        future: Future[list[Result]] = Future()
        with self._lock:
            if not self._reader.is_alive():
                raise RuntimeError("the nlp worker process is not running")
            self._waiting.append(future)
            self.sent += 1
            self._requests.put((language, None if texts is None else list(texts), batch_size))
        return future

    def submit_texts(self, language: str, texts: Sequence[str], batch_size: int) -> list[Promise]:
        """``texts`` queued as requests of one spaCy batch each (the first answers come back while
        the child runs the rest; requests of half a batch cost 4% more CPU on corpus utterances);
        each text's request and place in it, in order."""
        futures = [
            self.submit(language, texts[i : i + batch_size], batch_size)
            for i in range(0, len(texts), batch_size)
        ]
        return [(futures[n // batch_size], n % batch_size) for n in range(len(texts))]

    def pipe(self, language: str, texts: Sequence[str], batch_size: int) -> Iterator[Result]:
        """Each text's entities and categories, in order."""
        for future, n in self.submit_texts(language, texts, batch_size):
            yield future.result(timeout=TIMEOUT_S)[n]

    def reload(self, language: str) -> None:
        """Drop the language's pipeline in the child; the next request loads the current models."""
        self.submit(language, None, 0).result(timeout=TIMEOUT_S)

    def close(self) -> None:
        self._requests.put(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
        self._reader.join(timeout=5)

"""The domain: segments in, entities, sentiment and intent out. No Kafka, no gRPC.

One spaCy ``Language`` per language, loaded once: the trained pipeline's NER where one exists
(everything else in it excluded: NER does not listen to the shared tok2vec), or a blank
tokenizer, plus the project's sentiment and intent classifiers sourced into it as two
``textcat`` components; so one ``nlp.pipe`` call labels a whole batch, the same call the
throughput benchmark runs bare.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spacy
import yaml
from spacy.language import Language

from protos import common_pb2, transcripts_pb2
from services.annotate import classifiers
from services.annotate.entities import Gazetteer, model_spans, resolve, rule_spans
from services.annotate.mapping import locate_words, speaker_texts, to_entity
from services.annotate.settings import AnnotateSettings, TenantProfile
from services.annotate.worker import TIMEOUT_S, NlpWorker, Promise, Result
from shared.logging import get_logger

log = get_logger(__name__)

# Measured precision of the model's entities by language and label (`voxloop eval annotate`).
PRECISION_FILE = Path(__file__).parent / "entity_precision.json"


@dataclass
class LanguagePipeline:
    language: str
    nlp: Language
    pipeline: str  # the spaCy pipeline's name and version, or "rules-only:<lang>"
    trained: bool  # a trained NER model, not only the rule layers
    precision: Mapping[str, float]
    sentiment: Language | None  # the classifiers alone, for per-speaker text
    classifier_version: str = ""
    labels: dict[str, list[str]] = field(default_factory=dict)  # task -> the model's labels


@dataclass
class Labels:
    entities: list[transcripts_pb2.Entity]
    sentiment: list[transcripts_pb2.LabelScore]
    intent: list[transcripts_pb2.LabelScore]
    speaker_sentiment: list[transcripts_pb2.SpeakerSentiment]
    pipeline: str
    trained_pipeline: bool
    classifier_version: str
    review_reasons: list[str]

    def annotated(self, **fields: Any) -> transcripts_pb2.AnnotatedTranscript:
        """These labels as the annotated message; ``fields`` add its context, segment, version."""
        return transcripts_pb2.AnnotatedTranscript(
            entities=self.entities,
            sentiment=self.sentiment,
            intent=self.intent,
            pipeline=self.pipeline,
            needs_label_review=bool(self.review_reasons),
            speaker_sentiment=self.speaker_sentiment,
            review_reasons=self.review_reasons,
            classifier_version=self.classifier_version,
            trained_pipeline=self.trained_pipeline,
            **fields,
        )


def base_language(tag: str) -> str:
    """ "en-GB" -> "en"; an empty tag stays empty."""
    return tag.split("-")[0].split("_")[0].lower()


def _package_meta(package: str) -> dict[str, Any]:
    """A pipeline's meta.json (a package name or a path), without loading its weights."""
    path = Path(package) if Path(package).exists() else spacy.util.get_package_path(package)
    return spacy.util.get_model_meta(path)


def _blank(language: str) -> Language:
    try:
        return spacy.blank(language)
    except ImportError:  # a language spaCy cannot even tokenize: the multilingual tokenizer
        return spacy.blank("xx")


def classifier_version(versions: Mapping[str, str]) -> str:
    """The classifiers' versions as labels and provenance name them: "sentiment:<v> intent:<v>"."""
    return " ".join(f"{task}:{version}" for task, version in versions.items())


def configured_languages(settings: AnnotateSettings) -> list[str]:
    """The languages loaded at start: those with a trained pipeline or trained classifiers."""
    return sorted(set(settings.pipelines) | set(classifiers.trained_languages(settings.models_dir)))


def build_pipeline(
    language: str,
    settings: AnnotateSettings,
    precision: Mapping[str, Mapping[str, float]],
    ner: bool = True,
) -> LanguagePipeline:
    """The language's pipeline; ``ner=False`` leaves the NER weights out (the process that only
    needs the pipeline's name and the classifiers, when a worker process runs the NER)."""
    package = settings.pipelines.get(language)
    if package:
        meta = _package_meta(package)
        pipeline, trained = f"{meta['lang']}_{meta['name']}-{meta['version']}", True
    else:
        pipeline, trained = f"rules-only:{language}", False
    if package and ner:  # NER alone: it does not listen to the shared tok2vec
        nlp = spacy.load(package, exclude=[c for c in meta["components"] if c != "ner"])
    else:
        nlp = _blank(language)
    labels: dict[str, list[str]] = {}
    versions: dict[str, str] = {}  # task -> version
    sentiment: Language | None = None
    for task in classifiers.TASKS:
        loaded = classifiers.load(settings.models_dir, language, task)
        if loaded is None:
            continue
        classifier, card = loaded
        nlp.add_pipe("textcat", name=task, source=classifier)
        versions[task] = card.version
        labels[task] = card.labels
        if task == "sentiment":
            sentiment = classifier
    if len(labels) < len(classifiers.TASKS):
        log.warning("no trained classifiers", language=language, hint="run `voxloop annotate train`")
    return LanguagePipeline(
        language,
        nlp,
        pipeline,
        trained,
        precision.get(language, {}),
        sentiment,
        classifier_version(versions),
        labels,
    )


def _scores(
    cats: Mapping[str, float], labels: Sequence[str], allowed: Sequence[str]
) -> list[transcripts_pb2.LabelScore]:
    """The task's labels, best first; a tenant's narrower set is renormalised to sum to 1."""
    chosen = [label for label in labels if not allowed or label in allowed]
    total = sum(cats.get(label, 0.0) for label in chosen) or 1.0
    scored = [
        transcripts_pb2.LabelScore(label=label, confidence=cats.get(label, 0.0) / total) for label in chosen
    ]
    return sorted(scored, key=lambda s: -s.confidence)


def load_precision(path: Path) -> dict[str, dict[str, float]]:
    loaded: dict[str, dict[str, float]] = json.loads(path.read_text()) if path.is_file() else {}
    return loaded


TextKey = tuple[str, str]  # language, text


@dataclass
class _Prefetched:
    """Texts queued by ``Labeller.prefetch``, oldest first, at most ``limit``: the consumer polls
    one batch ahead, so the older ones belong to segments the handler skipped (a redelivery, an
    older version) and are dropped, their answers unread."""

    limit: int
    by_text: dict[TextKey, deque[tuple[int, Promise]]] = field(default_factory=dict)
    order: deque[tuple[int, TextKey]] = field(default_factory=deque)
    added: int = 0

    def add(self, key: TextKey, promise: Promise) -> None:
        self.added += 1
        self.by_text.setdefault(key, deque()).append((self.added, promise))
        self.order.append((self.added, key))
        while len(self.order) > self.limit:
            n, old = self.order.popleft()
            queued = self.by_text.get(old)
            if queued and queued[0][0] == n:  # not taken yet
                self._pop(old, queued)

    def take(self, key: TextKey) -> Promise | None:
        queued = self.by_text.get(key)
        return self._pop(key, queued) if queued else None

    def _pop(self, key: TextKey, queued: deque[tuple[int, Promise]]) -> Promise:
        _, promise = queued.popleft()
        if not queued:
            del self.by_text[key]
        return promise


class Labeller:
    """Loads each language's pipeline on first use and keeps it for the process's life.

    With ``settings.nlp_process`` the ``nlp.pipe`` calls run in a child process (``worker``);
    this process keeps the pipelines' labels and versions, and labels speakers' sentiment."""

    def __init__(self, settings: AnnotateSettings) -> None:
        self._settings = settings
        self._pipelines: dict[str, LanguagePipeline] = {}
        self._gazetteers: dict[str, Gazetteer | None] = {}
        self._precision = load_precision(PRECISION_FILE)
        self._worker: NlpWorker | None = None
        self._prefetch_lock = threading.Lock()  # the consumer prefetches, gRPC calls label too
        self._prefetched = _Prefetched(limit=4 * settings.max_poll_records)
        if settings.nlp_process:
            self._worker = NlpWorker(settings.model_dump_json())

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _results(self, lp: LanguagePipeline, texts: list[str]) -> Iterator[Result]:
        """Each text's entities and categories, in order: from ``prefetch`` where it queued the
        text, otherwise labelled now."""
        batch_size = self._settings.nlp_batch_size
        if self._worker is None:
            for doc in lp.nlp.pipe(texts, batch_size=batch_size):
                yield [(e.start_char, e.end_char, e.label_) for e in doc.ents], doc.cats
            return
        with self._prefetch_lock:
            found = [self._prefetched.take((lp.language, text)) for text in texts]
        missing = [text for text, promise in zip(texts, found, strict=True) if promise is None]
        queued = iter(self._worker.submit_texts(lp.language, missing, batch_size))
        for promise in found:
            future, n = promise if promise is not None else next(queued)
            yield future.result(timeout=TIMEOUT_S)[n]

    def prefetch(self, segments: Sequence[common_pb2.TranscriptSegment]) -> None:
        """Queue these segments' texts in the worker process now: the consumer calls this with
        its next poll before it handles the current one, so the worker runs while this process
        does its share (``label`` takes the results). Without a worker, nothing to do."""
        if self._worker is None:
            return
        by_language: dict[str, list[str]] = {}
        for segment in segments:
            by_language.setdefault(self.pipeline(segment.language).language, []).append(segment.text)
        promises: list[tuple[TextKey, Promise]] = []
        for language, texts in by_language.items():
            queued = self._worker.submit_texts(language, texts, self._settings.nlp_batch_size)
            promises += [((language, text), promise) for text, promise in zip(texts, queued, strict=True)]
        with self._prefetch_lock:
            for key, promise in promises:
                self._prefetched.add(key, promise)

    def pipeline(self, language: str) -> LanguagePipeline:
        language = base_language(language) or "xx"
        if language not in self._pipelines:
            self._pipelines[language] = build_pipeline(
                language, self._settings, self._precision, ner=self._worker is None
            )
            log.info("pipeline loaded", language=language, pipeline=self._pipelines[language].pipeline)
        return self._pipelines[language]

    def preload(self) -> None:
        """Every language with a trained pipeline or trained classifiers, loaded now."""
        for language in configured_languages(self._settings):
            self.pipeline(language)

    def refresh(self) -> list[str]:
        """Reload each loaded language whose classifiers' current version changed on disk (a
        promotion); returns those languages. Labelling goes on meanwhile: the old pipeline
        serves until the new one is in place."""
        changed = []
        for language, lp in list(self._pipelines.items()):
            on_disk = classifier_version(
                {
                    task: version
                    for task in classifiers.TASKS
                    if (version := classifiers.loaded_version(self._settings.models_dir, language, task))
                }
            )
            if on_disk != lp.classifier_version:
                with self._prefetch_lock:  # queued under the old classifiers
                    self._prefetched = _Prefetched(self._prefetched.limit)
                if self._worker is not None:
                    self._worker.reload(language)
                self._pipelines[language] = build_pipeline(
                    language, self._settings, self._precision, ner=self._worker is None
                )
                log.info("classifiers reloaded", language=language, versions=on_disk)
                changed.append(language)
        return changed

    def versions(self) -> str:
        """What labelled, for provenance: each loaded language's pipeline and classifiers."""
        return "; ".join(
            f"{lp.language}={lp.pipeline} {lp.classifier_version}".strip() for lp in self._pipelines.values()
        )

    def gazetteer(self, tenant_id: str) -> Gazetteer | None:
        if tenant_id not in self._gazetteers:
            path = self._settings.gazetteer_dir / f"{tenant_id}.yaml"
            phrases = (
                yaml.safe_load(path.read_text(encoding="utf-8")) if tenant_id and path.is_file() else None
            )
            self._gazetteers[tenant_id] = Gazetteer.of(tenant_id, phrases) if phrases else None
        return self._gazetteers[tenant_id]

    def label(
        self, segments: Sequence[common_pb2.TranscriptSegment], tenant_ids: Sequence[str]
    ) -> list[Labels]:
        """Label a batch: one ``nlp.pipe`` per language present, results in the input's order."""
        results: list[Labels | None] = [None] * len(segments)
        by_language: dict[str, list[int]] = {}
        for i, segment in enumerate(segments):
            by_language.setdefault(base_language(segment.language) or "xx", []).append(i)
        for language, indexes in by_language.items():
            lp = self.pipeline(language)
            texts = [segments[i].text for i in indexes]
            for i, (ents, cats) in zip(indexes, self._results(lp, texts), strict=True):
                results[i] = self._labels(lp, segments[i], tenant_ids[i], ents, cats)
        return [r for r in results if r is not None]

    def _labels(
        self,
        lp: LanguagePipeline,
        segment: common_pb2.TranscriptSegment,
        tenant_id: str,
        ents: Sequence[tuple[int, int, str]],
        cats: Mapping[str, float],
    ) -> Labels:
        text = segment.text
        profile: TenantProfile = self._settings.profile(tenant_id)
        spans = model_spans(ents, lp.pipeline, lp.precision) + rule_spans(text, lp.language)
        gazetteer = self.gazetteer(tenant_id)
        if gazetteer is not None:
            spans += gazetteer.spans(text)
        resolved = resolve(spans)
        several_speakers = len({w.speaker for w in segment.words}) > 1
        located = locate_words(text, segment.words) if resolved or several_speakers else []
        entities = [to_entity(span, text, segment, located) for span in resolved]
        sentiment = _scores(cats, lp.labels.get("sentiment", []), profile.sentiment_labels)
        intent = _scores(cats, lp.labels.get("intent", []), profile.intent_labels)
        speaker_sentiment = []
        per_speaker = speaker_texts(text, segment, located)  # {} for one speaker
        if lp.sentiment is not None and per_speaker:  # one speaker: the segment's sentiment is theirs
            for (speaker, words), doc in zip(
                per_speaker.items(), lp.sentiment.pipe(per_speaker.values()), strict=True
            ):
                speaker_sentiment.append(
                    transcripts_pb2.SpeakerSentiment(
                        speaker=speaker,
                        text=words,
                        sentiment=_scores(doc.cats, lp.labels["sentiment"], profile.sentiment_labels),
                    )
                )
        threshold = (
            profile.review_threshold
            if profile.review_threshold is not None
            else self._settings.review_threshold
        )
        reasons = []
        for task, scores in (("sentiment", sentiment), ("intent", intent)):
            if scores and scores[0].confidence < threshold:
                reasons.append(
                    f"{task}: top label {scores[0].label!r} at {scores[0].confidence:.2f} < {threshold:.2f}"
                )
        entity_threshold = self._settings.entity_review_threshold
        for entity in entities:
            if entity.source.startswith("model:") and entity.confidence < entity_threshold:
                reasons.append(
                    f"entity {entity.text!r} ({entity.label}): the model's precision for {entity.label} "
                    f"in {lp.language} is {entity.confidence:.2f} < {entity_threshold:.2f}"
                )
        return Labels(
            entities=entities,
            sentiment=sentiment,
            intent=intent,
            speaker_sentiment=speaker_sentiment,
            pipeline=lp.pipeline,
            trained_pipeline=lp.trained,
            classifier_version=lp.classifier_version,
            review_reasons=reasons,
        )

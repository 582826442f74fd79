"""Topic asr.vocabulary.v1: each domain's approved terms, decoded as Whisper hotwords.

The feedback service mines terms from linguists' corrections and publishes a domain's whole
approved vocabulary at every review (``VocabularyUpdate``, a version per domain and language).
The newest version is kept in the database, so every instance drafts a domain's segments with
the same terms; an older or repeated version is ignored.

The terms go to faster-whisper as ``hotwords`` rather than ``initial_prompt``: hotwords are
put before every 30 s window's prompt, an initial prompt is only the first window's previous
text and slides out of later windows' (at once in the safe re-decode profile, which does not
condition on previous text). On the one-window lines of ``voxloop eval vocabulary`` both gave
the same transcripts: term recall 0% -> 77%, WER 20.8% -> 11.3% (results/vocabulary_eval.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from protos import events_pb2
from services.asr.transcriber import DecodingOptions
from shared.db.tables import Base, utcnow
from shared.kafka.consumer import Handler, Inbound, require
from shared.kafka.outbox import Outbound
from shared.logging import get_logger

log = get_logger(__name__)


class AsrVocabulary(Base):
    __tablename__ = "asr_vocabulary"

    domain: Mapped[str] = mapped_column(String(200), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), primary_key=True)  # "": every language
    version: Mapped[int] = mapped_column(Integer)
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)  # the most corrected first
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


@dataclass(frozen=True)
class ActiveVocabulary:
    domain: str
    language: str
    version: int
    terms: tuple[str, ...]


def hotwords(terms: tuple[str, ...] | list[str]) -> str:
    """The terms as one hint phrase; faster-whisper keeps its first 223 tokens, so the most
    corrected terms (first) survive a long list."""
    return ", ".join(terms)


def keep_update(session: Session, update: events_pb2.VocabularyUpdate) -> bool:
    """Store the update unless this version or a newer one is already kept."""
    row = session.get(AsrVocabulary, (update.domain, update.language), with_for_update=True)
    if row is not None and row.version >= update.version:
        return False
    if row is None:
        row = AsrVocabulary(domain=update.domain, language=update.language)
        session.add(row)
    row.version = update.version
    row.terms = list(dict.fromkeys(t.term for t in update.terms if t.term.strip()))
    return True


def make_vocabulary_handler() -> Handler:
    def handle_vocabulary(session: Session, inbound: Inbound[events_pb2.VocabularyUpdate]) -> list[Outbound]:
        update = inbound.message
        require(update, "version")
        if keep_update(session, update):
            log.info(
                "vocabulary updated",
                domain=update.domain,
                language=update.language,
                version=update.version,
                terms=len(update.terms),
            )
        return []

    return handle_vocabulary


def active_vocabulary(session: Session, domain: str, language: str) -> ActiveVocabulary | None:
    """The domain's vocabulary for the language, else its every-language one; None without terms.
    A recording whose language is not known yet only gets the every-language vocabulary."""
    for lang in dict.fromkeys([language, ""]):
        row = session.get(AsrVocabulary, (domain, lang))
        if row is not None:
            if not row.terms:  # every term rejected: decode as without a vocabulary
                return None
            return ActiveVocabulary(domain, lang, row.version, tuple(row.terms))
    return None


def with_vocabulary(options: DecodingOptions, vocabulary: ActiveVocabulary | None) -> DecodingOptions:
    """``options`` decoding the vocabulary's terms as hotwords, its version recorded."""
    if vocabulary is None:
        return options
    return replace(options, hotwords=hotwords(vocabulary.terms), vocabulary_version=vocabulary.version)

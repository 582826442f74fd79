"""The vocabulary loop: terms linguists keep inserting or substituting become ASR hotwords.

Mining compares a validated segment's draft with its validated text word by word (after the
project's WER normalisation, ``shared.text.normalise_text``) and keeps what the linguist wrote
where the draft differed: runs of up to ``MAX_TERM_WORDS`` words, stop words (spaCy's list for
the language) and pure numbers left out, in the validated text's spelling (capitalisation).
Each segment's occurrences are stored per segment, so a segment validated again at a higher
version replaces its own contribution instead of counting twice. A term seen at least
``min_occurrences`` times in at least ``min_recordings`` recordings of one (domain, language)
becomes a candidate; a person approves or rejects it, and every review publishes that domain's
whole approved vocabulary (``VocabularyUpdate``, version + 1) to the ASR service.

No Kafka and no gRPC here: the functions take a session and return what to publish.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache

from sqlalchemy import JSON, Float, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from protos import common_pb2, events_pb2, feedback_pb2
from services.feedback.store import ExampleRow
from shared.db.tables import Base
from shared.kafka.outbox import Outbound
from shared.text import normalise_text, primary_language, scored_per_character
from shared.topics import ASR_VOCABULARY

MAX_TERM_WORDS = 3  # a name, a product, a short phrase; longer runs are rewrites
MAX_SUFFIX_FIX = 3  # letters an inflection adds or removes at a word's end ("-s", "-ed", "-ing")
MAX_EXAMPLES = 3  # corrected sentences shown to the reviewer per term
STATES = ("candidate", "approved", "rejected")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})


class VocabularyOccurrence(Base):
    """How often one validated segment inserted or substituted a term (its latest version)."""

    __tablename__ = "feedback_vocabulary_occurrences"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    term_key: Mapped[str] = mapped_column(String(300), primary_key=True)  # the normalised term
    domain: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    recording_id: Mapped[str] = mapped_column(String(200))
    surface: Mapped[str] = mapped_column(String(300))  # as the linguist wrote it
    mistaken_as: Mapped[str] = mapped_column(String(300))  # what the draft had there ("": nothing)
    count: Mapped[int] = mapped_column(Integer)
    sentence: Mapped[str] = mapped_column(Text)


class VocabularyTermRow(Base):
    __tablename__ = "feedback_vocabulary"
    __table_args__ = (UniqueConstraint("domain", "language", "term_key", name="uq_feedback_vocabulary_term"),)

    term_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    domain: Mapped[str] = mapped_column(String(200), index=True)
    language: Mapped[str] = mapped_column(String(16))
    term_key: Mapped[str] = mapped_column(String(300))
    term: Mapped[str] = mapped_column(String(300))
    occurrences: Mapped[int] = mapped_column(Integer)
    recordings: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)  # candidate | approved | rejected
    reviewed_by: Mapped[str] = mapped_column(String(200), default="")
    mistaken_as: Mapped[str] = mapped_column(String(300), default="")
    examples: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[float] = mapped_column(Float)

    def candidate(self) -> feedback_pb2.VocabularyCandidate:
        return feedback_pb2.VocabularyCandidate(
            term_id=self.term_id,
            domain=self.domain,
            language=self.language,
            term=self.term,
            occurrences=self.occurrences,
            recordings=self.recordings,
            state=self.state,
            reviewed_by=self.reviewed_by,
            examples=self.examples,
            mistaken_as=self.mistaken_as,
        )


class VocabularyVersion(Base):
    """The last version of a (domain, language) vocabulary published to the ASR service."""

    __tablename__ = "feedback_vocabulary_versions"

    domain: Mapped[str] = mapped_column(String(200), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[float] = mapped_column(Float)


class TermNotFound(LookupError):
    """No vocabulary term has this id (gRPC: NOT_FOUND)."""


@dataclass(frozen=True)
class MinedTerm:
    """A word or short phrase the linguist wrote where the draft had something else or nothing."""

    key: str  # normalised, as compared
    surface: str  # the validated text's spelling
    mistaken_as: str  # the draft's normalised words in its place ("" for an insertion)


# -- mining a pair of texts ------------------------------------------------------------------


@cache
def stop_words(language: str) -> frozenset[str]:
    """spaCy's stop words for the language; none where spaCy has no list."""
    code = primary_language(language)
    if not code.isalpha():
        return frozenset()
    try:
        module = importlib.import_module(f"spacy.lang.{code}.stop_words")
    except ImportError:
        return frozenset()
    return frozenset(w.lower() for w in getattr(module, "STOP_WORDS", ()))


def _surface_words(text: str) -> list[str]:
    """``normalise_text``'s words without the lower-casing: the spelling a linguist chose."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    kept = "".join(c if c == "'" or unicodedata.category(c)[0] in "LNM" else " " for c in text)
    return re.sub(r"(?<!\w)'|'(?!\w)", " ", kept).split()


def _is_content(word: str, stops: frozenset[str]) -> bool:
    return len(word) > 1 and word not in stops and not word.replace("'", "").isnumeric()


def _inflected(word: str, drafted: str) -> bool:
    """The draft had this word's stem in its place ("show" -> "shows", "walk" -> "walked"): a
    grammar fix, not a term the model does not know. A misheard name ("Kelbora" -> "Kelvora",
    "flu video" -> "Flumio") differs elsewhere than at the end of the same word, and is mined."""
    return (
        drafted != word
        and min(len(drafted), len(word)) >= 3
        and abs(len(drafted) - len(word)) <= MAX_SUFFIX_FIX
        and (word.startswith(drafted) or drafted.startswith(word))
    )


def mine_terms(draft_text: str, validated_text: str, language: str) -> list[MinedTerm]:
    """Words and phrases of up to ``MAX_TERM_WORDS`` words that the validated text inserted or
    substituted against the draft. Languages scored per character (no spaces between words)
    are not mined: a "word" there is a character, not a term."""
    if scored_per_character(language):
        return []
    draft = normalise_text(draft_text, language).split()
    validated = normalise_text(validated_text, language).split()
    surface = _surface_words(validated_text)
    if len(surface) != len(validated) or [s.lower() for s in surface] != validated:
        surface = validated  # a spelling normalisation changed the word count: no capitals then
    stops = stop_words(language)
    terms: list[MinedTerm] = []
    matcher = difflib.SequenceMatcher(a=draft, b=validated, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op not in ("insert", "replace"):
            continue
        replaced = draft[i1:i2]
        mistaken = " ".join(replaced)
        run: list[int] = []
        for j in [*range(j1, j2), -1]:  # -1 closes the last run
            # Word for word replacements pair each validated word with the draft's in its place.
            drafted = replaced[j - j1] if len(replaced) == j2 - j1 and j >= 0 else ""
            if j >= 0 and _is_content(validated[j], stops) and not _inflected(validated[j], drafted):
                run.append(j)
                continue
            # Every word of a run, and the run itself when it is short enough to be one name.
            phrases = [[k] for k in run] + ([run] if 1 < len(run) <= MAX_TERM_WORDS else [])
            terms += [
                MinedTerm(" ".join(validated[k] for k in p), " ".join(surface[k] for k in p), mistaken)
                for p in phrases
            ]
            run = []
    return terms


# -- the store -----------------------------------------------------------------------------


def term_id_for(domain: str, language: str, key: str) -> str:
    digest = hashlib.sha256(f"{domain}\x1f{language}\x1f{key}".encode()).hexdigest()[:16]
    return f"term-{digest}"


def mine_example(
    session: Session, row: ExampleRow, min_occurrences: int = 2, min_recordings: int = 2
) -> list[str]:
    """Record a kept example's corrections (replacing those of its earlier versions) and update
    the candidates they touch; returns the ids of terms that are candidates or reviewed now.
    Call it after ``keep_example`` kept a new version."""
    terms = mine_terms(row.draft_text, row.text, row.language) if row.corrected else []
    old = session.scalars(
        select(VocabularyOccurrence).where(VocabularyOccurrence.segment_id == row.segment_id)
    ).all()
    touched = {(o.domain, o.language, o.term_key) for o in old}
    session.execute(delete(VocabularyOccurrence).where(VocabularyOccurrence.segment_id == row.segment_id))
    session.flush()
    counts = Counter(t.key for t in terms)
    first = {t.key: t for t in reversed(terms)}
    for key, count in counts.items():
        session.add(
            VocabularyOccurrence(
                segment_id=row.segment_id,
                term_key=key,
                domain=row.domain,
                language=row.language,
                recording_id=row.recording_id,
                surface=first[key].surface,
                mistaken_as=first[key].mistaken_as,
                count=count,
                sentence=row.text,
            )
        )
        touched.add((row.domain, row.language, key))
    session.flush()
    ids = [_refresh_term(session, *t, min_occurrences, min_recordings) for t in sorted(touched)]
    return [i for i in ids if i]


def _refresh_term(
    session: Session, domain: str, language: str, key: str, min_occurrences: int, min_recordings: int
) -> str:
    """Recount a term from its occurrences; create, update or drop its vocabulary row."""
    seen = session.scalars(
        select(VocabularyOccurrence).where(
            VocabularyOccurrence.domain == domain,
            VocabularyOccurrence.language == language,
            VocabularyOccurrence.term_key == key,
        )
    ).all()
    occurrences = sum(o.count for o in seen)
    recordings = len({o.recording_id for o in seen})
    term_id = term_id_for(domain, language, key)
    row = session.get(VocabularyTermRow, term_id)
    enough = occurrences >= min_occurrences and recordings >= min_recordings
    if row is None and not enough:
        return ""
    if row is None:
        row = VocabularyTermRow(
            term_id=term_id, domain=domain, language=language, term_key=key, state="candidate", reviewed_by=""
        )
        session.add(row)
    elif not enough and row.state == "candidate":
        session.delete(row)  # its corrections were revised away before anyone reviewed it
        return ""
    row.term = Counter(o.surface for o in seen).most_common(1)[0][0] if seen else row.term
    row.occurrences, row.recordings = occurrences, recordings
    mistakes = Counter(o.mistaken_as for o in seen if o.mistaken_as)
    row.mistaken_as = mistakes.most_common(1)[0][0] if mistakes else ""
    row.examples = list(dict.fromkeys(o.sentence for o in seen))[:MAX_EXAMPLES]
    row.updated_at = time.time()
    return term_id


# -- review and publication ------------------------------------------------------------------


def list_terms(session: Session, domain: str = "", state: str = "") -> list[feedback_pb2.VocabularyCandidate]:
    """Terms of a domain (empty: all) in a state (empty: all), the most corrected first."""
    query = select(VocabularyTermRow)
    if domain:
        query = query.where(VocabularyTermRow.domain == domain)
    if state:
        query = query.where(VocabularyTermRow.state == state)
    rows = session.scalars(
        query.order_by(
            VocabularyTermRow.occurrences.desc(), VocabularyTermRow.recordings.desc(), VocabularyTermRow.term
        )
    ).all()
    return [r.candidate() for r in rows]


def review_term(
    session: Session, term_id: str, approve: bool, reviewer: str, provenance: common_pb2.Provenance
) -> tuple[feedback_pb2.VocabularyCandidate, list[Outbound]]:
    """Approve or reject a term, then publish its domain and language's approved vocabulary as
    the next version (a rejection of an approved term takes it out of the ASR's hotwords)."""
    row = session.get(VocabularyTermRow, term_id, with_for_update=True)
    if row is None:
        raise TermNotFound(f"no vocabulary term {term_id!r}; list them with ListVocabulary")
    row.state = "approved" if approve else "rejected"
    row.reviewed_by = reviewer
    row.updated_at = time.time()
    session.flush()
    return row.candidate(), [publish_vocabulary(session, row.domain, row.language, provenance)]


def publish_vocabulary(
    session: Session, domain: str, language: str, provenance: common_pb2.Provenance
) -> Outbound:
    """The (domain, language) approved terms as the next ``VocabularyUpdate``, keyed by domain so
    the ASR service reads a domain's versions in order."""
    current = session.get(VocabularyVersion, (domain, language), with_for_update=True)
    if current is None:
        current = VocabularyVersion(domain=domain, language=language, version=0)
        session.add(current)
    current.version += 1
    current.published_at = time.time()
    approved = session.scalars(
        select(VocabularyTermRow)
        .where(
            VocabularyTermRow.domain == domain,
            VocabularyTermRow.language == language,
            VocabularyTermRow.state == "approved",
        )
        .order_by(VocabularyTermRow.occurrences.desc(), VocabularyTermRow.term)
    ).all()
    update = events_pb2.VocabularyUpdate(
        domain=domain,
        language=language,
        version=current.version,
        terms=[
            events_pb2.VocabularyTerm(
                term=r.term, occurrences=r.occurrences, recordings=r.recordings, approved_by=r.reviewed_by
            )
            for r in approved
        ],
        provenance=provenance,
    )
    scope = hashlib.sha256(f"{domain}\x1f{language}".encode()).hexdigest()[:16]
    return Outbound(
        ASR_VOCABULARY.name, update, key=domain, message_id=f"vocabulary-{scope}-v{current.version}"
    )

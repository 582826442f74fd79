"""Mining terms from corrections and reviewing them, on a real SQLite database with the
feedback service's migrations: insertions and substitutions in the linguist's spelling, stop
words and numbers left out, thresholds on occurrences and recordings, a re-validated segment
counted once, and every review publishing the domain's approved vocabulary as the next version."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import common_pb2, events_pb2
from services.feedback.__main__ import MIGRATIONS
from services.feedback.store import ExampleRow
from services.feedback.vocabulary import (
    MinedTerm,
    TermNotFound,
    VocabularyOccurrence,
    list_terms,
    mine_example,
    mine_terms,
    review_term,
    stop_words,
)
from services.feedback.vocabulary_eval import Line, load_corpus, score
from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.topics import ASR_VOCABULARY

PROVENANCE = common_pb2.Provenance(service="feedback")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'feedback.db'}")
    upgrade(engine, [MIGRATIONS])
    with make_session_factory(engine).begin() as s:
        yield s
    engine.dispose()


def kept(
    session: Session,
    segment_id: str,
    recording_id: str,
    draft: str,
    text: str,
    *,
    version: int = 2,
    domain: str = "support",
    language: str = "en",
) -> ExampleRow:
    """What ``keep_example`` leaves in the table for a validated segment, then mined."""
    row = session.get(ExampleRow, segment_id) or ExampleRow(segment_id=segment_id)
    row.version, row.recording_id, row.tenant_id, row.domain = version, recording_id, "acme", domain
    row.language, row.speaker_id, row.duration_s = language, "", 4.0
    row.draft_text, row.text, row.corrected = draft, text, draft != text
    row.labels_reviewed, row.sentiment, row.intent, row.gold, row.evaluation = False, "", "", False, False
    row.at, row.payload = time.time(), b""
    session.add(row)
    session.flush()
    mine_example(session, row)
    return row


def keys(terms: list[MinedTerm]) -> list[str]:
    return [t.key for t in terms]


def test_substituted_and_inserted_words_are_mined_in_the_linguists_spelling() -> None:
    substituted = mine_terms(
        "Please restart your n-trick's router and open the Warwick app.",
        "Please restart your Zentrix router and open the Quorvia app.",
        "en",
    )
    assert [(t.surface, t.mistaken_as) for t in substituted] == [
        ("Zentrix", "n trick's"),
        ("Quorvia", "warwick"),
    ]
    inserted = mine_terms("I spoke with about the bill", "I spoke with Ingrid Okafor about the bill", "en")
    assert [(t.surface, t.mistaken_as) for t in inserted] == [
        ("Ingrid", ""),
        ("Okafor", ""),
        ("Ingrid Okafor", ""),  # a short run is also kept whole, as a name
    ]
    # A rewritten clause of more than three words gives its words, not the clause.
    long = mine_terms("call the help desk", "call Kelvora Nimbra Flumio Vexalink desk", "en")
    assert keys(long) == ["kelvora", "nimbra", "flumio", "vexalink"]


def test_stop_words_numbers_and_grammar_fixes_are_not_terms() -> None:
    assert "the" in stop_words("en") and "und" in stop_words("de-AT") and stop_words("xx") == frozenset()
    assert mine_terms("I paid 20 euros", "I paid 25 euros to them", "en") == []  # number, stop words
    assert mine_terms("the screen show an error", "the screen shows an error", "en") == []  # inflection
    assert mine_terms("same text", "Same text.", "en") == []  # only case and punctuation differ
    assert keys(mine_terms("Ich habe der Zentrik", "Ich habe den Zentrix", "de")) == ["zentrix"]
    assert mine_terms("你好", "你们好", "zh") == []  # scored per character: no words to mine


def test_a_term_becomes_a_candidate_at_two_occurrences_in_two_recordings(session: Session) -> None:
    kept(session, "s1", "rec-1", "restart the centrics router", "restart the Zentrix router")
    kept(session, "s2", "rec-1", "is the centrics on", "is the Zentrix on")
    assert list_terms(session) == []  # twice, but in one recording
    kept(session, "s3", "rec-2", "a new sentrix arrived", "a new Zentrix arrived")
    kept(session, "s4", "rec-3", "hello there", "hello there")  # not corrected: nothing mined
    (term,) = list_terms(session)
    assert (term.term, term.occurrences, term.recordings, term.state) == ("Zentrix", 3, 2, "candidate")
    assert term.domain == "support" and term.language == "en" and term.mistaken_as == "centrics"
    assert list(term.examples) == ["restart the Zentrix router", "is the Zentrix on", "a new Zentrix arrived"]
    # Other domains and languages count apart.
    kept(session, "m1", "rec-9", "the centrics dose", "the Zentrix dose", domain="medical")
    assert [t.domain for t in list_terms(session)] == ["support"]
    assert list_terms(session, domain="medical") == [] and len(list_terms(session, state="candidate")) == 1


def test_a_revalidated_segment_replaces_its_own_occurrences(session: Session) -> None:
    kept(session, "s1", "rec-1", "call flu video", "call Flumio")
    kept(session, "s2", "rec-2", "the flu video app", "the Flumio app")
    assert [(t.term, t.occurrences) for t in list_terms(session)] == [("Flumio", 2)]
    # s2 validated again at a higher version with the same correction: still 2, not 3.
    kept(session, "s2", "rec-2", "the flu video app", "the Flumio app", version=3)
    assert [(t.term, t.occurrences, t.recordings) for t in list_terms(session)] == [("Flumio", 2, 2)]
    assert len(session.scalars(select(VocabularyOccurrence)).all()) == 2
    # Re-validated without the term: below the threshold, an unreviewed candidate goes away.
    kept(session, "s2", "rec-2", "the flu video app", "the flu video app", version=4)
    assert list_terms(session) == []


def test_review_publishes_the_domains_approved_vocabulary_as_the_next_version(session: Session) -> None:
    for seg, rec in (("a", "rec-1"), ("b", "rec-2")):
        kept(session, f"{seg}1", rec, "your kelbora account", "your Kelvora account")
        kept(session, f"{seg}2", rec, "the imbra plan", "the Nimbra plan")
    by_term = {t.term: t for t in list_terms(session)}
    assert set(by_term) == {"Kelvora", "Nimbra"}

    candidate, (out,) = review_term(session, by_term["Kelvora"].term_id, True, "rui", PROVENANCE)
    assert candidate.state == "approved" and candidate.reviewed_by == "rui"
    update = out.message
    assert isinstance(update, events_pb2.VocabularyUpdate)
    assert out.topic == ASR_VOCABULARY.name and out.key == "support"
    assert (update.domain, update.language, update.version) == ("support", "en", 1)
    assert [(t.term, t.occurrences, t.recordings, t.approved_by) for t in update.terms] == [
        ("Kelvora", 2, 2, "rui")
    ]
    assert update.provenance.service == "feedback"

    _, (second,) = review_term(session, by_term["Nimbra"].term_id, True, "ana", PROVENANCE)
    assert isinstance(second.message, events_pb2.VocabularyUpdate)
    assert second.message.version == 2 and [t.term for t in second.message.terms] == ["Kelvora", "Nimbra"]
    assert second.message_id != out.message_id

    rejected, (third,) = review_term(session, by_term["Kelvora"].term_id, False, "ana", PROVENANCE)
    assert rejected.state == "rejected"
    assert isinstance(third.message, events_pb2.VocabularyUpdate)
    assert third.message.version == 3 and [t.term for t in third.message.terms] == ["Nimbra"]
    assert [t.term for t in list_terms(session, state="approved")] == ["Nimbra"]
    # A reviewed term keeps its state when more corrections come in.
    kept(session, "c1", "rec-3", "your kelbora account", "your Kelvora account")
    assert {t.term: (t.state, t.occurrences) for t in list_terms(session)}["Kelvora"] == ("rejected", 3)


def test_an_unknown_term_id_is_an_error_that_names_it(session: Session) -> None:
    with pytest.raises(TermNotFound, match="term-nope"):
        review_term(session, "term-nope", True, "rui", PROVENANCE)


def test_the_evaluation_scores_term_words_apart_from_all_words() -> None:
    lines = [
        Line("heldout", "r1", "Ingrid Okafor called about Zentrix.", ("Okafor", "Zentrix")),
        Line("heldout", "r2", "Your Kelvora account.", ("Kelvora",)),
    ]
    scores = score(lines, ["Ingrid Okafor called about metrics", ""], "en")
    assert (scores.words, scores.term_words) == (8, 3)
    assert scores.wer == 4 / 8  # one substitution, three deletions
    assert scores.term_recall == 1 / 3 and scores.term_word_error == 2 / 3
    assert [line.part for line in load_corpus("support")].count("heldout") == 12

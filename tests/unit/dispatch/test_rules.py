"""Dispatch's rules as plain functions: tiers, language and dialect scope, domain skills, queue
priority, one person one part per segment; and the client's ``retime`` of corrected text."""

from __future__ import annotations

import pytest

from protos import common_pb2
from services.dispatch.client import retime
from services.dispatch.rules import (
    CORRECT,
    QA_SAMPLE,
    REVIEW,
    Part,
    Person,
    conflict,
    language_keys,
    priority_of,
)

SKILLS = ("medical", "legal", "finance")


def person(
    roles: tuple[str, ...] = ("annotator",),
    languages: tuple[str, ...] = ("en",),
    domains: tuple[str, ...] = (),
) -> Person:
    return Person("anna", frozenset(roles), frozenset(languages), frozenset(domains))


# -- tiers, languages, domains ----------------------------------------------------------------


def test_a_person_works_only_their_tiers() -> None:
    annotator = person(("annotator",))
    assert annotator.works_tier("annotator")
    assert not any(annotator.works_tier(t) for t in ("reviewer", "senior", "qa_lead", "admin"))
    both = person(("annotator", "reviewer"))
    assert both.works_tier("reviewer") and not both.works_tier("senior")


def test_admin_works_every_tier_language_and_domain() -> None:
    admin = person(("admin",), languages=(), domains=())
    assert admin.admin and all(admin.works_tier(t) for t in ("annotator", "senior", "qa_lead"))
    assert admin.speaks("ja", "ja-JP") and admin.knows_domain("medical", SKILLS)
    assert not person(("senior", "qa_lead")).admin


@pytest.mark.parametrize(
    ("scope", "language", "dialect", "speaks"),
    [
        (("en",), "en", "", True),
        (("en",), "en", "en-GB", True),  # a base language covers all its dialects
        (("en-GB",), "en", "en-GB", True),
        (("en-GB",), "en", "en-US", False),  # a dialect covers only itself
        (("en-GB",), "en", "", False),
        (("de",), "en", "", False),
        (("*",), "sw", "sw-KE", True),
        ((), "en", "", False),
    ],
)
def test_language_and_dialect_scope(
    scope: tuple[str, ...], language: str, dialect: str, speaks: bool
) -> None:
    assert person(languages=scope).speaks(language, dialect) is speaks


def test_domain_skill_is_needed_only_for_skill_domains() -> None:
    plain = person(domains=())
    assert plain.knows_domain("support", SKILLS) and plain.knows_domain("", SKILLS)
    assert not plain.knows_domain("medical", SKILLS)
    assert person(domains=("medical",)).knows_domain("medical", SKILLS)
    assert not person(domains=("medical",)).knows_domain("legal", SKILLS)
    assert person(domains=("*",)).knows_domain("legal", SKILLS)
    assert plain.knows_domain("medical", ())  # not a skill domain in these settings


def test_language_keys_are_base_languages_for_the_queue_query() -> None:
    assert language_keys(["en-GB", "EN-us", "de"]) == {"en", "de"}
    assert language_keys(["fr", "*"]) is None
    assert language_keys([]) == set()


def test_priority_orders_risk_then_escalation() -> None:
    assert priority_of("high") > priority_of("medium") > priority_of("low")
    assert priority_of("medium", escalated=True) > priority_of("medium")
    assert priority_of("high") > priority_of("medium", escalated=True)  # escalations stay within their tier
    assert priority_of("unknown-tier") == priority_of("medium")
    assert priority_of("") == priority_of("medium")


# -- one person, one part per segment ---------------------------------------------------------


def test_corrector_cannot_review_or_sample_their_segment() -> None:
    parts = [Part("anna", CORRECT, 0, "s:correct")]
    assert conflict("anna", "s:review:2", REVIEW, parts) == "corrected this segment and cannot review it"
    assert conflict("anna", "s:qa:3", QA_SAMPLE, parts) == "worked on this segment and cannot sample it"
    assert conflict("rita", "s:review:2", REVIEW, parts) is None  # someone else's correction


def test_reviewer_cannot_sample_or_correct_their_segment() -> None:
    parts = [Part("rita", REVIEW, 0, "s:review:2")]
    assert conflict("rita", "s:qa:3", QA_SAMPLE, parts) is not None
    assert conflict("rita", "s:correct", CORRECT, parts) == "reviewed this segment and cannot correct it"
    sampled = [Part("quinn", QA_SAMPLE, 0, "s:qa:3")]
    assert conflict("quinn", "s:correct", CORRECT, sampled) is not None


def test_double_blind_halves_go_to_different_people() -> None:
    parts = [Part("anna", CORRECT, 1, "s:correct:1")]
    assert (
        conflict("anna", "s:correct:2", CORRECT, parts)
        == "corrected the other half of this double-blind pair"
    )
    assert conflict("bob", "s:correct:2", CORRECT, parts) is None


def test_own_earlier_part_on_the_same_task_is_no_conflict() -> None:
    """Reclaiming one's own correction after a rejection or a lapsed lease is allowed."""
    assert conflict("anna", "s:correct", CORRECT, [Part("anna", CORRECT, 0, "s:correct")]) is None
    reviews = [Part("rita", REVIEW, 0, "s:review:2")]
    assert conflict("rita", "s:review:3", REVIEW, reviews) is None  # reviewing the next round is fine
    assert conflict("anna", "s:correct", CORRECT, []) is None


# -- retime -----------------------------------------------------------------------------------


def words(*spec: tuple[str, float, float]) -> list[common_pb2.Word]:
    return [common_pb2.Word(text=t, start_s=s, end_s=e, probability=0.6, speaker="S1") for t, s, e in spec]


DRAFT = words(
    ("hello", 0.0, 0.4),
    ("there", 0.5, 0.9),
    ("this", 1.0, 1.3),
    ("is", 1.4, 1.6),
    ("a", 1.7, 1.8),
    ("test", 1.9, 2.4),
)


def timed(out: list[common_pb2.Word]) -> list[tuple[str, float, float]]:
    return [(w.text, round(w.start_s, 3), round(w.end_s, 3)) for w in out]


# Kept words must keep their own times and speaker, or the reviewer's diff would show timing
# edits for words nobody touched.


def test_retime_keeps_unchanged_words_with_their_times_and_probability() -> None:
    out = retime(DRAFT, "hello there this is a test")
    assert timed(out) == [(w.text, w.start_s, w.end_s) for w in DRAFT]
    assert all(abs(w.probability - 0.6) < 1e-6 and w.speaker == "S1" for w in out)


def test_retime_case_change_keeps_times() -> None:
    out = retime(DRAFT, "hello There this is a test")
    assert out[1].text == "There" and (out[1].start_s, out[1].end_s) == (0.5, 0.9)
    assert abs(out[1].probability - 0.6) < 1e-6


def test_retime_keeps_each_words_speaker() -> None:
    draft = words(("yes", 0.0, 0.3), ("no", 0.5, 0.8))
    draft[1].speaker = "S2"
    out = retime(draft, "yes no")
    assert [w.speaker for w in out] == ["S1", "S2"]


def test_retime_replaced_word_takes_the_old_words_span() -> None:
    out = retime(DRAFT, "hello there this is the test")
    assert timed(out)[4] == ("the", 1.7, 1.8)
    assert out[4].probability == 1.0 and out[4].speaker == "S1"  # typed by a person


def test_retime_replacement_of_different_length_shares_the_span() -> None:
    out = retime(DRAFT, "hello there this is a big test")
    texts = [w.text for w in out]
    assert texts == ["hello", "there", "this", "is", "a", "big", "test"]
    assert all(out[i].start_s <= out[i + 1].start_s for i in range(len(out) - 1))
    assert all(0.0 <= w.start_s <= w.end_s <= 2.4 for w in out)


def test_retime_insertion_fills_the_gap() -> None:
    out = retime(words(("hello", 0.0, 0.4), ("test", 1.0, 1.4)), "hello big fat test")
    assert timed(out) == [("hello", 0.0, 0.4), ("big", 0.4, 0.7), ("fat", 0.7, 1.0), ("test", 1.0, 1.4)]


def test_retime_insertion_at_the_edges_stays_in_order() -> None:
    out = retime(words(("hello", 0.2, 0.6), ("there", 0.7, 1.0)), "oh hello there again")
    assert [w.text for w in out] == ["oh", "hello", "there", "again"]
    assert [w.start_s for w in out] == sorted(w.start_s for w in out)
    assert out[0].end_s <= 0.2 + 1e-9 and out[-1].start_s >= 1.0 - 1e-9


def test_retime_deletion_leaves_nothing_behind() -> None:
    out = retime(DRAFT, "hello there this is test")
    assert timed(out) == [
        ("hello", 0.0, 0.4),
        ("there", 0.5, 0.9),
        ("this", 1.0, 1.3),
        ("is", 1.4, 1.6),
        ("test", 1.9, 2.4),
    ]
    assert retime(DRAFT, "") == []


def test_retime_without_a_draft() -> None:
    out = retime([], "hello there")
    assert [w.text for w in out] == ["hello", "there"]
    assert all(w.start_s == w.end_s == 0.0 for w in out)

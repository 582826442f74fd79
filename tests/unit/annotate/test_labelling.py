"""Entities from the real spaCy pipelines and the rule layers, mapped back to words, times and
speakers; languages without a trained pipeline; empty and very long transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from protos import common_pb2, transcripts_pb2
from services.annotate.entities import Gazetteer, Span, resolve, rule_spans
from services.annotate.labeller import Labeller
from services.annotate.mapping import locate_words, redact, speaker_texts
from services.annotate.settings import AnnotateSettings


def whisper_segment(
    words: list[tuple[str, float, float, str]], language: str = "en"
) -> common_pb2.TranscriptSegment:
    """A segment as faster-whisper writes it: each word with its leading space and punctuation."""
    segment = common_pb2.TranscriptSegment(
        segment_id="s1", language=language, speaker=words[0][3] if words else ""
    )
    for text, start, end, speaker in words:
        segment.words.add(text=text, start_s=start, end_s=end, speaker=speaker, probability=0.9)
    segment.text = "".join(w[0] for w in words).strip()
    if words:
        segment.start_s, segment.end_s = words[0][1], words[-1][2]
    return segment


@pytest.fixture(scope="module")
def labeller(tmp_path_factory: pytest.TempPathFactory) -> Labeller:
    models = tmp_path_factory.mktemp("models")  # no classifiers here: entities only
    return Labeller(AnnotateSettings(models_dir=models, nlp_process=False))


def by_label(entities: list[transcripts_pb2.Entity]) -> dict[str, transcripts_pb2.Entity]:
    return {e.label: e for e in entities}


def test_a_multi_word_entity_with_punctuation_maps_to_its_words_times_and_speaker(labeller: Labeller) -> None:
    segment = whisper_segment(
        [
            (" Hello,", 0.0, 0.4, "SPEAKER_00"),
            (" this", 0.5, 0.7, "SPEAKER_00"),
            (" is", 0.7, 0.8, "SPEAKER_00"),
            (" Anna", 0.9, 1.2, "SPEAKER_01"),
            (" Smith,", 1.2, 1.6, "SPEAKER_01"),
            (" calling", 1.7, 2.0, "SPEAKER_01"),
            (" from", 2.0, 2.1, "SPEAKER_01"),
            (" Boston.", 2.2, 2.7, "SPEAKER_01"),
        ]
    )
    entities = by_label(labeller.label([segment], [""])[0].entities)
    person = entities["PERSON"]
    assert (person.text, person.start_char, person.end_char) == ("Anna Smith", 15, 25)
    assert segment.text[person.start_char : person.end_char] == "Anna Smith"
    assert (person.start_word, person.end_word) == (3, 5)  # " Anna", " Smith," (comma outside the span)
    assert (person.start_s, person.end_s, person.speaker) == (0.9, 1.6, "SPEAKER_01")
    assert person.personal_data and person.source.startswith("model:")
    place = entities["LOC"]
    assert (place.text, place.start_word, place.end_word, place.end_s) == ("Boston", 7, 8, 2.7)
    assert not place.personal_data


def test_rule_layers_find_emails_phones_ids_and_amounts_inside_punctuated_words(labeller: Labeller) -> None:
    words = " My email is anna.smith@example.com, the number is 555-0142 and order AB-1234-XY cost $45.50."
    parts = words.split(" ")[1:]
    segment = whisper_segment([(" " + p, i * 0.5, i * 0.5 + 0.4, "SPEAKER_00") for i, p in enumerate(parts)])
    found = {e.label: e for e in labeller.label([segment], [""])[0].entities}
    assert found["EMAIL"].text == "anna.smith@example.com" and found["EMAIL"].source == "rule:email"
    assert found["PHONE"].text == "555-0142"
    assert found["ID"].text == "AB-1234-XY"
    assert found["MONEY"].text == "$45.50"
    for label in ("EMAIL", "PHONE", "ID", "MONEY"):
        entity = found[label]
        assert segment.text[entity.start_char : entity.end_char] == entity.text
        assert entity.end_word == entity.start_word + 1  # one word, its trailing comma or stop left out
        assert segment.words[entity.start_word].text.strip().startswith(entity.text)
    assert all(found[k].personal_data for k in ("EMAIL", "PHONE", "ID")) and not found["MONEY"].personal_data


def test_a_corrected_text_whose_words_differ_in_case_still_maps() -> None:
    segment = whisper_segment(
        [(" call", 0.0, 0.2, "A"), (" MARIE", 0.3, 0.6, "A"), (" dubois", 0.6, 0.9, "A")]
    )
    segment.text = "Call Marie Dubois."
    located = locate_words(segment.text, segment.words)
    assert [(w.index, segment.text[w.start_char : w.end_char]) for w in located] == [
        (0, "Call"),
        (1, "Marie"),
        (2, "Dubois"),
    ]


def test_overlaps_go_to_the_stronger_layer_then_the_longer_span() -> None:
    spans = [
        Span(0, 5, "DATE", "model:x", 0.7, priority=1),
        Span(0, 5, "ID", "rule:id", 0.9, priority=2),
        Span(7, 20, "ORG", "model:x", 0.8, priority=1),
        Span(7, 11, "PRODUCT", "gazetteer:acme", 0.95, priority=3),
        Span(12, 20, "LOC", "model:x", 0.8, priority=1),
        Span(22, 27, "MONEY", "model:x", 0.8, priority=1),
        Span(21, 27, "MONEY", "rule:money", 0.9, priority=0),  # same label, longer: kept
        Span(30, 35, "TIME", "model:x", 0.6, priority=1),
        Span(30, 35, "TIME", "rule:time", 0.85, priority=0),  # same span twice: one is kept
    ]
    assert [(s.label, s.start_char, s.end_char) for s in resolve(spans)] == [
        ("ID", 0, 5),
        ("PRODUCT", 7, 11),
        ("LOC", 12, 20),
        ("MONEY", 21, 27),
        ("TIME", 30, 35),
    ]


def test_a_tenant_gazetteer_marks_its_products_case_insensitively_on_word_boundaries() -> None:
    gazetteer = Gazetteer.of("acme", {"PRODUCT": ["FiberMax 500", "SmartBox"]})
    text = "My fibermax 500 and the SmartBoxes and the SmartBox."
    assert [(s.start_char, s.end_char, s.label) for s in gazetteer.spans(text)] == [
        (3, 15, "PRODUCT"),
        (43, 51, "PRODUCT"),
    ]


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        (
            "de",
            "Am 3. März um 14:30 Uhr, Kundennummer 4471920.",
            {("DATE", "3. März"), ("TIME", "14:30 Uhr"), ("ID", "4471920")},
        ),
        (
            "es",
            "El pago de 32,50 € vence el 15 de abril.",
            {("MONEY", "32,50 €"), ("DATE", "el 15 de abril")},
        ),
        ("fr", "Rappelez-moi au 06 12 34 56 78 demain.", {("PHONE", "06 12 34 56 78"), ("DATE", "demain")}),
    ],
)
def test_pattern_rules_in_other_languages(language: str, text: str, expected: set[tuple[str, str]]) -> None:
    found = {(s.label, text[s.start_char : s.end_char]) for s in resolve(rule_spans(text, language))}
    assert expected <= found


def test_a_language_without_a_trained_pipeline_gets_rules_only_and_says_so(labeller: Labeller) -> None:
    segment = whisper_segment(
        [(" Llame", 0.0, 0.3, "A"), (" al", 0.3, 0.4, "A"), (" 612", 0.5, 0.7, "A"), (" 345", 0.7, 0.9, "A"),
         (" 678.", 0.9, 1.1, "A")],
        language="es",
    )  # fmt: skip
    labels = labeller.label([segment], [""])[0]
    assert labels.pipeline == "rules-only:es" and not labels.trained_pipeline
    assert all(not e.source.startswith("model:") for e in labels.entities)
    assert [(e.label, e.text, e.start_word, e.end_word) for e in labels.entities] == [
        ("PHONE", "612 345 678", 2, 5)
    ]
    unknown = whisper_segment([(" Sawubona", 0.0, 0.5, "A")], language="zu-ZA")
    assert labeller.label([unknown], [""])[0].pipeline == "rules-only:zu"


def test_an_empty_transcript_gets_no_labels_and_no_error(labeller: Labeller) -> None:
    empty = common_pb2.TranscriptSegment(segment_id="e", language="en", text="")
    labels = labeller.label([empty], [""])[0]
    assert labels.entities == [] and labels.speaker_sentiment == []


def test_a_very_long_transcript_keeps_every_offset_exact(labeller: Labeller) -> None:
    sentence = [(" Please", "A"), (" call", "A"), (" Marie", "B"), (" Dubois", "B"), (" at", "A"),
                (" 555-0142", "A"), (" before", "A"), (" Friday.", "A")]  # fmt: skip
    words = [(w, n * 0.3, n * 0.3 + 0.25, s) for n, (w, s) in enumerate(sentence * 1500)]  # 12,000 words
    segment = whisper_segment(words)
    labels = labeller.label([segment], [""])[0]
    phones = [e for e in labels.entities if e.label == "PHONE"]
    assert len(phones) == 1500
    for entity in labels.entities:
        assert segment.text[entity.start_char : entity.end_char] == entity.text
        first = segment.words[entity.start_word]
        assert entity.start_s == first.start_s and entity.text.split()[0] in first.text
    assert phones[-1].start_word == 8 * 1499 + 5


def test_redaction_replaces_personal_data_in_text_and_words(labeller: Labeller) -> None:
    segment = whisper_segment(
        [(" Mail", 0.0, 0.2, "A"), (" anna@example.com", 0.3, 0.9, "A"), (" today.", 1.0, 1.2, "A")]
    )
    labels = labeller.label([segment], [""])[0]
    redacted = redact(segment, labels.entities)
    assert redacted.text == "Mail [EMAIL] today."
    assert [w.text for w in redacted.words] == [" Mail", " [EMAIL]", " today."]
    assert segment.text == "Mail anna@example.com today."  # the original is untouched


def test_speaker_texts_only_when_several_speakers_spoke() -> None:
    two = whisper_segment([(" Yes,", 0.0, 0.2, "A"), (" great.", 0.2, 0.5, "A"), (" No.", 0.6, 0.8, "B")])
    assert speaker_texts(two.text, two, locate_words(two.text, two.words)) == {"A": "Yes, great.", "B": "No."}
    one = whisper_segment([(" Yes.", 0.0, 0.2, "A")])
    assert speaker_texts(one.text, one, locate_words(one.text, one.words)) == {}


def test_settings_reject_a_bad_tenant_profile(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="review_threshold"):
        AnnotateSettings(tenants={"acme": {"review_threshold": 2}})


def test_a_rule_or_gazetteer_is_skipped_only_where_it_cannot_match() -> None:
    """The cheap gates in front of the patterns and the tenant's phrases (a digit, "@", a word)
    never hide a hit: every corpus text, and each with dates, times, amounts and products added
    in odd cases."""
    import random

    import yaml

    from services.annotate.benchmark import corpus_texts
    from services.annotate.entities import _patterns, text_words
    from services.annotate.settings import CORPUS

    phrases = yaml.safe_load((CORPUS / "gazetteers" / "acme.yaml").read_text())
    gazetteer = Gazetteer.of("acme", phrases)
    rng = random.Random(7)
    extras = [
        "3",
        "12:30",
        "4th",
        "a@b.io",
        "2024",
        "$5",
        "AB-12",
        "15h30",
        "SEPT.",
        "Août,",
        "MONDAY's",
        "heute",
    ]
    extras += [p.upper() for ps in phrases.values() for p in ps][:20] + ["\u0130stanbul", "\u212aiosk"]
    texts = []
    for language, text in corpus_texts():
        words = text.split()
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randint(0, len(words)), rng.choice(extras))
        texts += [(language, text), (rng.choice(["en", "fr", "de", "es", "it"]), " ".join(words))]
    checked = 0
    for language, text in texts:
        has_digit, words = any(c.isdigit() for c in text), text_words(text)
        for rule in _patterns(language):
            if rule.pattern.search(text):
                checked += 1
                assert rule.may_match(text, has_digit, words), (rule.label, language, text)
        ungated = {(m.span(), label) for label, p in gazetteer.patterns.items() for m in p.finditer(text)}
        assert {((s.start_char, s.end_char), s.label) for s in gazetteer.spans(text)} == ungated, text
        checked += len(ungated)
    assert checked > 1000

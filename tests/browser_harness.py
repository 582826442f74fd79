"""Dispatch and the browser gateway in-process, with tasks over real audio, for the client's tests.

The tasks hold pyannote's sample (real telephone speech) with its reference words timed from
``sample.stm``; an Arabic and a Japanese task carry right-to-left and CJK text. The full-stack
browser test (tests/e2e/test_browser_client.py) uses the real ASR instead.

``python -m tests.browser_harness`` starts it and prints the page's address and the people's
tokens, for working on the page by hand.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from protos import common_pb2, transcripts_pb2
from services.dispatch.workload import make_verdict
from services.gateway.bridge import DispatchBridge
from services.gateway.settings import STATIC_DIR
from services.gateway.web import GatewayServer
from shared.audio import TARGET_RATE_HZ, decode_container, to_pcm16
from shared.blobstore import LocalBlobStore
from tests.dispatch_harness import DispatchHarness, running_dispatch
from tests.samples import pyannote_sample

# Who works in the harness: subject -> (roles, languages).
PEOPLE: dict[str, tuple[list[str], list[str]]] = {
    "anna": (["annotator"], ["en"]),
    "rafael": (["reviewer"], ["en"]),
    "quinn": (["qa_lead", "reviewer"], ["*"]),
    "layla": (["annotator"], ["ar"]),
    "kenji": (["annotator"], ["ja"]),
}
ARABIC_TEXT = "مرحبا، أريد أن أسأل عن طلبي رقم أربعة"
JAPANESE_TEXT = "注文 の 状況 を 確認 したい です"


@dataclass
class BrowserStack:
    url: str
    dispatch: DispatchHarness
    gateway: GatewayServer
    tokens: dict[str, str] = field(default_factory=dict)


def stm_words(stm: Path, start_s: float, end_s: float) -> list[common_pb2.Word]:
    """The reference words of ``sample.stm`` between two times, each utterance's words spread
    evenly over its span, with the utterance's speaker."""
    words: list[common_pb2.Word] = []
    for line in stm.read_text().splitlines():
        if not line.strip():
            continue
        _file, _channel, speaker, t0, t1, text = line.split(None, 5)
        u0, u1 = float(t0), float(t1)
        if u1 <= start_s or u0 >= end_s:
            continue
        tokens = text.split()
        step = (u1 - u0) / len(tokens)
        for i, token in enumerate(tokens):
            w0 = u0 + i * step
            if start_s <= w0 < end_s:
                words.append(
                    common_pb2.Word(
                        text=token,
                        start_s=round(w0, 3),
                        end_s=round(min(w0 + step * 0.9, end_s), 3),
                        probability=0.35 if len(token) > 7 else 0.9,  # a few words to check
                        speaker=speaker,
                    )
                )
    return words


def audio_verdict(
    blobs: LocalBlobStore,
    samples_16k: bytes,
    segment_id: str,
    words: list[common_pb2.Word],
    start_s: float,
    end_s: float,
    index: int,
    language: str = "en",
    recording_id: str = "pyannote-sample",
) -> transcripts_pb2.QaVerdict:
    """A human-routed verdict whose draft holds the span's audio, as the ASR service stores it."""
    text = (" " if language not in ("ja", "zh") else "").join(w.text for w in words)
    verdict = make_verdict(segment_id, text, language=language, recording_id=recording_id, index=index)
    piece = samples_16k[int(start_s * TARGET_RATE_HZ) * 2 : int(end_s * TARGET_RATE_HZ) * 2]
    stored = blobs.put(piece, ".pcm")
    segment = verdict.draft.segment
    segment.start_s, segment.end_s = start_s, end_s
    del segment.words[:]
    segment.words.extend(words)
    segment.speaker = words[0].speaker if words else ""
    verdict.draft.audio.CopyFrom(
        common_pb2.AudioRef(
            uri=stored.uri,
            sha256=stored.sha256,
            encoding="pcm_s16le",
            sample_rate_hz=TARGET_RATE_HZ,
            channels=1,
            duration_s=end_s - start_s,
            size_bytes=stored.size_bytes,
        )
    )
    verdict.reasons.append("low_confidence: 4 words under 0.5")
    return verdict


def spread(texts: list[str], start_s: float, end_s: float, speaker: str) -> list[common_pb2.Word]:
    step = (end_s - start_s) / len(texts)
    return [
        common_pb2.Word(
            text=t,
            start_s=round(start_s + i * step, 3),
            end_s=round(start_s + (i + 0.9) * step, 3),
            probability=0.8,
            speaker=speaker,
        )
        for i, t in enumerate(texts)
    ]


def seed_tasks(dispatch: DispatchHarness) -> None:
    """The sample as two English segments (0-15 s, 15-30 s), plus an Arabic and a Japanese one."""
    sample = pyannote_sample()
    samples = to_pcm16(decode_container(sample.wav.read_bytes(), 60.0).samples)
    blobs = dispatch.ctx.blobs
    for index, (t0, t1) in enumerate(((0.0, 15.0), (15.0, 30.0))):
        words = stm_words(sample.stm, t0, t1)
        dispatch.feed(audio_verdict(blobs, samples, f"pyannote-sample-{index}", words, t0, t1, index))
    arabic = spread(ARABIC_TEXT.split(), 0.0, 5.0, "SPEAKER_00")
    dispatch.feed(audio_verdict(blobs, samples, "call-ar-0", arabic, 0.0, 5.0, 0, "ar", "call-ar"))
    japanese = spread(JAPANESE_TEXT.split(), 0.0, 5.0, "SPEAKER_00")
    dispatch.feed(audio_verdict(blobs, samples, "call-ja-0", japanese, 0.0, 5.0, 0, "ja", "call-ja"))


@contextmanager
def running_gateway(
    dispatch_target: str, quality_target: str = "", quality_token: str = ""
) -> Iterator[GatewayServer]:
    bridge = DispatchBridge(dispatch_target, quality_target, quality_token, timeout_s=30)
    server = GatewayServer(bridge, "127.0.0.1", 0, STATIC_DIR, 8 * 1024 * 1024).start()
    try:
        yield server
    finally:
        server.stop()
        bridge.close()


@contextmanager
def browser_stack(
    db_url: str, data_dir: Path, seed: bool = True, **dispatch_settings: object
) -> Iterator[BrowserStack]:
    with running_dispatch(db_url, data_dir, **dispatch_settings) as dispatch:
        tokens = {"admin": dispatch.admin_token}
        admin = dispatch.admin
        for subject, (roles, languages) in PEOPLE.items():
            admin.upsert_user(subject, roles, languages, [])
            tokens[subject] = admin.issue_token(subject).token
        if seed:
            seed_tasks(dispatch)
        with running_gateway(dispatch.target) as gateway:
            yield BrowserStack(f"http://127.0.0.1:{gateway.port}/", dispatch, gateway, tokens)


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        browser_stack(f"sqlite:///{tmp}/dispatch.db", Path(tmp)) as stack,
    ):
        print(f"page: {stack.url}", flush=True)
        for subject, token in stack.tokens.items():
            print(f"  {subject:8} {token}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


if __name__ == "__main__":
    main()

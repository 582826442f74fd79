"""`voxloop bench client`: the linguists' browser client on the real stack, timed, beside the same
work done through the Python gRPC client (what the terminal client uses), in one run.

The stack (ingest, asr, quality, dispatch, gateway as processes, the real broker, SQLite) drafts
pyannote's sample with the real ASR; the gate sends it to people (medical domain). A 30-minute
recording's worth of other tasks (360 segments of 5 s, low risk) waits in the same queue, so the
page always holds a long task list.

- page load: a fresh browser context (empty cache and storage) opens the page until the client
  has booted; the median of ``rounds``.
- queue: from the login click until all the tasks are rows of the queue table.
- scripted correction of the sample: claim (task shown, audio decoded and drawn), play until a
  word lights up, retype the reference transcript with the keyboard, submit (Ctrl+Enter); then
  a reviewer claims and approves it; apart, the approve key press to the correction's own
  timestamp on transcripts.corrected.v1.
- side by side: ``rounds`` tasks of the long recording corrected in the browser (claim, retype,
  submit) and as many through ``DispatchClient`` (claim, audio, ``submit_text``).
- responsiveness, read from the page by the Long Tasks and Event Timing APIs over the whole
  session: the longest main-thread task and the slowest interaction (input to next paint).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from protos import dispatch_pb2, events_pb2, transcripts_pb2
from services.dispatch.client import DispatchClient
from services.dispatch.workload import make_verdict
from services.gateway import scripted
from services.gateway.browser import Tab, chromium, chromium_path, new_tab
from shared.stack import stack
from shared.stack.demo import reference_answer, sample_reference, stream_sample_to_people
from shared.stack.probe import collect, publish_verdicts, segment_id_of
from shared.stack.processes import StackState
from shared.topics import TRANSCRIPTS_CORRECTED

Progress = Callable[[str], None]
STREAM = "bench-sample"
LONG_CALL = "long-call"
LONG_SEGMENT_S = 5.0
LONG_TEXT = "thank you for calling the support line my order has not arrived yet"
ARABIC = "مرحبا، أريد أن أسأل عن طلبي رقم أربعة"

# Collected from the page's first script on: main-thread tasks over 50 ms, and every input's
# time to the next paint (Event Timing; 16 ms is the API's floor).
PERF_PROBE = """
window.__perf = {longtasks: [], events: []};
new PerformanceObserver(l => l.getEntries().forEach(e => window.__perf.longtasks.push(e.duration)))
  .observe({type: 'longtask', buffered: true});
new PerformanceObserver(l => l.getEntries().forEach(e => window.__perf.events.push([e.name, e.duration])))
  .observe({type: 'event', durationThreshold: 16, buffered: true});
"""


def machine_facts() -> dict[str, str]:
    return {
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "browser": f"Chromium (Debian) at {chromium_path()}, headless, 1280x800",
    }


def long_call_verdicts(count: int) -> list[transcripts_pb2.QaVerdict]:
    return [
        make_verdict(
            f"{LONG_CALL}-{i:04d}",
            LONG_TEXT,
            recording_id=LONG_CALL,
            index=i,
            start_s=i * LONG_SEGMENT_S,
            risk_tier="low",
        )
        for i in range(count)
    ]


def wait_queued(admin: DispatchClient, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(admin.stats().by_kind.values()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"dispatch did not make {count} tasks in {timeout_s:.0f}s")
        time.sleep(0.5)


@contextmanager
def bench_stack(work: Path) -> Iterator[StackState]:
    home = work / "stack"
    shutil.rmtree(home, ignore_errors=True)
    services = ("ingest", "asr", "quality", "dispatch", "gateway")
    state = stack.up(home, stack.StackPorts.free(), services=services)
    try:
        yield state
    finally:
        stack.down(home)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


# How long the page waited on the gateway for the claim and the audio (Resource Timing).
API_WAIT = """() => performance.getEntriesByType('resource')
  .filter(e => /ClaimNextTask|\\/audio/.test(e.name)).reduce((sum, e) => sum + e.duration, 0)"""


def correct_in_browser(tab: Tab, text_for: Callable[[dict[str, Any]], str]) -> dict[str, float]:
    tab.page.evaluate("() => performance.clearResourceTimings()")
    claim_ms, task = timed(lambda: scripted.claim_next(tab, "TASK_KIND_CORRECT"))
    api_ms = float(tab.page.evaluate(API_WAIT))
    text = text_for(task)
    type_ms, _ = timed(lambda: scripted.retype(tab, text))
    submit_ms, _ = timed(lambda: scripted.submit(tab))
    return {"claim_ms": claim_ms, "claim_api_ms": api_ms, "type_ms": type_ms, "submit_ms": submit_ms}


def correct_with_client(client: DispatchClient, text: str) -> dict[str, float]:
    started = time.perf_counter()
    task = client.claim_next([events_pb2.TASK_KIND_CORRECT])
    assert task is not None
    client.audio(task.task_id)
    claim_ms = (time.perf_counter() - started) * 1000
    submit_ms, _ = timed(lambda: client.submit_text(task, text))
    return {"claim_ms": claim_ms, "submit_ms": submit_ms}


def run_benchmark(
    out: Path,
    work: Path,
    shots: Path | None,
    rounds: int = 5,
    long_tasks: int = 360,
    progress: Progress = print,
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    with bench_stack(work) as state:
        admin = DispatchClient(
            f"127.0.0.1:{state.grpc_port('dispatch')}", stack.admin_token(Path(state.home))
        )
        tokens = {}
        for subject, roles, languages in (
            ("ana", ["annotator"], ["en"]),
            ("rui", ["reviewer"], ["en"]),
            ("quinn", ["qa_lead", "reviewer"], ["*"]),
            ("layla", ["annotator"], ["ar"]),
            ("cli", ["annotator"], ["en"]),
        ):
            admin.upsert_user(subject, roles, languages, ["medical"])
            tokens[subject] = admin.issue_token(subject, ttl_days=1).token

        progress("streaming pyannote's sample through ingest, ASR and the quality gate")
        stream_sample_to_people(state.bootstrap, STREAM)
        progress(f"queueing a 30-minute recording: {long_tasks} tasks")
        arabic = make_verdict("call-ar-0000", ARABIC, language="ar", recording_id="call-ar")
        publish_verdicts(state.bootstrap, [*long_call_verdicts(long_tasks), arabic])
        wait_queued(admin, long_tasks + 2)

        url = state.page_url
        answer = reference_answer(sample_reference())
        report: dict[str, Any] = {"machine": machine_facts(), "long_tasks": long_tasks, "rounds": rounds}
        with chromium() as browser:
            progress("page load")
            loads = []
            for _ in range(rounds):
                with new_tab(browser) as fresh:
                    started = time.perf_counter()
                    fresh.goto(url)
                    loads.append((time.perf_counter() - started) * 1000)
                    if shots is not None:
                        fresh.page.screenshot(path=str(shots / "login.png"))
            report["page_load_ms"] = _summary(loads)

            progress("the sample, corrected in the browser")
            with new_tab(browser) as tab:
                tab.page.add_init_script(PERF_PROBE)
                tab.goto(url)
                tab.page.fill("#login-token", tokens["ana"])
                queue_ms, _ = timed(lambda: _login_until_rows(tab, long_tasks + 1))
                report["queue_render_ms"] = queue_ms
                if shots is not None:
                    tab.page.screenshot(path=str(shots / "queue.png"))
                claim_ms, task = timed(lambda: scripted.claim_next(tab, "TASK_KIND_CORRECT"))
                assert task["segment"]["segment_id"].startswith(STREAM), "the sample is the riskiest task"
                play_ms, _ = timed(lambda: scripted.play_until_a_word_lights_up(tab))
                if shots is not None:
                    tab.page.screenshot(path=str(shots / "task.png"))
                reference = answer(
                    json_format.ParseDict(task, dispatch_pb2.Task(), ignore_unknown_fields=True)
                )
                type_ms, _ = timed(lambda: scripted.retype(tab, reference))
                submit_ms, _ = timed(lambda: scripted.submit(tab))
                sample = {
                    "claim_ms": claim_ms,
                    "play_ms": play_ms,
                    "type_ms": type_ms,
                    "chars": len(reference),
                    "submit_ms": submit_ms,
                }
                progress("side by side: browser and Python client on the long recording's tasks")
                browser_runs = [
                    correct_in_browser(tab, lambda t: LONG_TEXT.replace("yet", "today"))
                    for _ in range(rounds)
                ]
                report["responsiveness"] = _responsiveness(tab)
                report["errors"] = list(tab.errors)

            with new_tab(browser) as tab:
                scripted.log_in(tab, url, tokens["rui"])
                scripted.logged_in(tab)
                sample["review_claim_ms"], review = timed(
                    lambda: scripted.claim_next(tab, "TASK_KIND_REVIEW")
                )
                if shots is not None:
                    tab.page.screenshot(path=str(shots / "review.png"))
                assert review["segment"]["segment_id"] == task["segment"]["segment_id"]
                pressed = time.perf_counter()
                sample["approve_ms"], _ = timed(lambda: scripted.submit(tab))
            # Read back from the topic's start by a fresh consumer; the record's own timestamp
            # says when dispatch's outbox relay sent it.
            corrected = collect(
                state.bootstrap,
                [TRANSCRIPTS_CORRECTED.name],
                lambda rs: any(segment_id_of(r.message).startswith(STREAM) for r in rs),
                60,
            )
            published = next(r for r in corrected if segment_id_of(r.message).startswith(STREAM))
            sample["key_to_published_ms"] = published.timestamp_ms - _epoch_ms(pressed)
            people_ms = (
                claim_ms,
                play_ms,
                type_ms,
                submit_ms,
                sample["review_claim_ms"],
                sample["approve_ms"],
            )
            sample["total_ms"] = sum(people_ms)
            report["sample_correction"] = sample

            if shots is not None:
                _extra_screenshots(browser, url, tokens, shots)

        cli = DispatchClient(f"127.0.0.1:{state.grpc_port('dispatch')}", tokens["cli"])
        client_runs = [correct_with_client(cli, LONG_TEXT.replace("yet", "today")) for _ in range(rounds)]
        report["side_by_side"] = {
            "browser": {
                k: _summary([r[k] for r in browser_runs])
                for k in ("claim_ms", "claim_api_ms", "type_ms", "submit_ms")
            },
            "python_client": {k: _summary([r[k] for r in client_runs]) for k in ("claim_ms", "submit_ms")},
        }
        cli.close()
        admin.close()
    write_report(report, out)
    return report


def _epoch_ms(perf_counter_s: float) -> float:
    """A ``perf_counter`` reading as wall-clock epoch milliseconds (Kafka timestamps are)."""
    return (time.time() - (time.perf_counter() - perf_counter_s)) * 1000


def _login_until_rows(tab: Tab, rows: int) -> None:
    tab.page.click("#login-submit")
    tab.page.wait_for_function(
        f"() => document.querySelectorAll('#queue-rows tr[data-task-id]').length >= {rows}", timeout=60_000
    )


def _responsiveness(tab: Tab) -> dict[str, Any]:
    perf = tab.page.evaluate("() => window.__perf")
    events = [d for _, d in perf["events"]]
    return {
        "long_tasks": len(perf["longtasks"]),
        "longest_task_ms": max(perf["longtasks"], default=0.0),
        "interactions": len(events),
        "slowest_interaction_ms": max(events, default=0.0),
        "p95_interaction_ms": _percentile(events, 95),
    }


def _extra_screenshots(browser: Any, url: str, tokens: dict[str, str], shots: Path) -> None:
    with new_tab(browser) as tab:
        scripted.log_in(tab, url, tokens["quinn"])
        scripted.logged_in(tab)
        tab.page.wait_for_selector("#qa", timeout=30_000)
        tab.page.screenshot(path=str(shots / "qa.png"), full_page=True)
    with new_tab(browser) as tab:
        scripted.log_in(tab, url, tokens["layla"])
        scripted.logged_in(tab)
        scripted.claim_next(tab, "TASK_KIND_CORRECT")
        tab.page.screenshot(path=str(shots / "rtl-arabic.png"))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "client_benchmark.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    s, side, r = report["sample_correction"], report["side_by_side"], report["responsiveness"]
    load = report["page_load_ms"]
    lines = [
        "# The linguists' browser client, timed on the real stack",
        "",
        "`voxloop bench client`: ingest, ASR, quality, dispatch and the gateway as processes over the "
        f"real broker; headless Chromium; {report['long_tasks']} other tasks (a 30-minute recording "
        "in 5 s segments) in the same queue.",
        "",
        "| what | median ms | min | max |",
        "|---|---|---|---|",
        f"| page load (fresh context, to booted) | {load['median']:.0f} | {load['min']:.0f} "
        f"| {load['max']:.0f} |",
        "",
        f"Queue of {report['long_tasks'] + 2} tasks, login click to every row drawn: "
        f"**{report['queue_render_ms']:.0f} ms**.",
        "",
        "## Scripted correction of pyannote's sample (30 s, two speakers)",
        "",
        "| step | ms |",
        "|---|---|",
        f"| claim: task shown, audio fetched, decoded and drawn | {s['claim_ms']:.0f} |",
        f"| play until a word lights up, pause | {s['play_ms']:.0f} |",
        f"| retype the reference ({s['chars']} characters, Playwright's keyboard) | {s['type_ms']:.0f} |",
        f"| submit (Ctrl+Enter) until confirmed | {s['submit_ms']:.0f} |",
        f"| reviewer: claim the review (diff shown, audio ready) | {s['review_claim_ms']:.0f} |",
        f"| reviewer: approve (Ctrl+Enter) until confirmed | {s['approve_ms']:.0f} |",
        f"| **total** of these steps (the logins left out) | **{s['total_ms']:.0f}** |",
        f"| the approve key press to the correction's timestamp on transcripts.corrected.v1 "
        f"| {s['key_to_published_ms']:.0f} |",
        "",
        f"## Side by side: the same correction, {report['rounds']} tasks each (medians, ms)",
        "",
        "| path | claim (with audio) | of which waiting on the API | submit |",
        "|---|---|---|---|",
        f"| browser (gateway, JSON) | {side['browser']['claim_ms']['median']:.0f} | "
        f"{side['browser']['claim_api_ms']['median']:.0f} | {side['browser']['submit_ms']['median']:.0f} |",
        f"| Python client (gRPC) | {side['python_client']['claim_ms']['median']:.0f} | "
        f"{side['python_client']['claim_ms']['median']:.0f} | "
        f"{side['python_client']['submit_ms']['median']:.0f} |",
        "",
        "The browser's claim includes drawing the task: the words, the waveform (the WAV decoded by Web "
        "Audio) and the panels; its submit includes returning to the queue.",
        "",
        "## Responsiveness over the whole session (the page's own measurements)",
        "",
        f"- long main-thread tasks (> 50 ms): {r['long_tasks']}, the longest {r['longest_task_ms']:.0f} ms",
        f"- interactions slower than 16 ms: {r['interactions']}; "
        f"the slowest {r['slowest_interaction_ms']:.0f} ms, 95th percentile {r['p95_interaction_ms']:.0f} ms",
        f"- errors in the page's console: {len(report['errors'])}",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()) + ".",
        "",
    ]
    (out / "client_benchmark.md").write_text("\n".join(lines))

"""Transcripts over real HTTP on 127.0.0.1: valid HAR after every attempt,
failed attempts kept, bodies capped, crash repair on resume."""

from __future__ import annotations

import datetime as dt
import gc
import json
import re
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from requests_toolbelt.utils.dump import dump_response

from runner.records.har import HEADER, TranscriptError
from runner.records.transcript import Transcript
from runner.redaction.redact import Redactor
from tests.support import MEASURED
from tests.support.recording import attempt


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_valid(validator, path: Path) -> dict:
    har = load(path)
    errors = sorted(validator.iter_errors(har), key=str)
    assert not errors, errors[0]
    return har


def test_single_entry_is_a_complete_har_1_2_document(send, transcript, server, har_validator):
    send("GET", f"{server}/status", params={"accessToken": "12345"}, call="status")
    har = assert_valid(har_validator, transcript.har_path)
    assert har["log"]["version"] == "1.2"
    assert har["log"]["creator"]["name"] == "segrun"
    (entry,) = har["log"]["entries"]
    assert entry["request"]["method"] == "GET"
    assert entry["request"]["queryString"] == [{"name": "accessToken", "value": "12345"}]
    assert entry["response"]["status"] == 200
    assert entry["response"]["statusText"] == "OK"
    assert entry["response"]["httpVersion"] == "HTTP/1.1"
    assert json.loads(entry["response"]["content"]["text"])["Status"] == "Complete"
    assert entry["response"]["content"]["mimeType"] == "application/json"
    assert (entry["_job"], entry["_call"], entry["_attempt"]) == ("weekly", "status", 1)
    assert "_error" not in entry
    timings = entry["timings"]
    assert entry["time"] == pytest.approx(timings["send"] + timings["wait"] + timings["receive"])
    assert entry["startedDateTime"].endswith("+00:00")


def test_har_is_valid_json_after_every_record_call(send, transcript, server, har_validator):
    calls = [
        ("POST", "/echo", {"json": {"LastDateTime": "2026-11-21T00:00:00.000Z"}}),
        ("GET", "/status", {}),
        ("GET", "/page", {"params": {"n": "3", "offset": "1"}}),
        ("GET", "/busy", {}),
        ("GET", "/drop", {}),
        ("POST", "/echo", {"data": {"a": "1"}}),
    ]
    for i in range(30):
        method, path, kwargs = calls[i % len(calls)]
        send(method, server + path, attempt_no=i + 1, **kwargs)
        har = json.loads(transcript.har_path.read_bytes())  # whole file, every time
        assert len(har["log"]["entries"]) == i + 1
        assert transcript.entries == i + 1
    har = assert_valid(har_validator, transcript.har_path)
    statuses = [e["response"]["status"] for e in har["log"]["entries"][:6]]
    assert statuses == [200, 200, 200, 503, 0, 200]
    post = har["log"]["entries"][0]["request"]
    assert post["postData"]["mimeType"] == "application/json"
    assert json.loads(post["postData"]["text"]) == {"LastDateTime": "2026-11-21T00:00:00.000Z"}
    assert post["bodySize"] == len(post["postData"]["text"])


@pytest.mark.parametrize(
    ("path", "timeout", "error_name"),
    [
        ("/drop", 5, "ConnectionError"),
        ("/slow?s=1", 0.2, "ReadTimeout"),
        ("/truncated", 5, "ChunkedEncodingError"),
    ],
)
def test_failed_attempt_is_an_entry_with_status_0(
    send, transcript, server, har_validator, path, timeout, error_name
):
    assert send("GET", server + path, timeout=timeout, attempt_no=2) is None
    har = assert_valid(har_validator, transcript.har_path)
    (entry,) = har["log"]["entries"]
    assert entry["response"]["status"] == 0
    assert entry["_error"].startswith(error_name + ":")
    assert entry["_attempt"] == 2
    assert entry["request"]["url"] == server + path
    text = transcript.text_path.read_text()
    assert f"< GET {urlsplit(server).path}{path} HTTP/1.1" in text
    assert f"> [no response] {error_name}:" in text


def test_body_cap_keeps_first_bytes_and_notes_true_size(tmp_path, session, server, har_validator):
    with Transcript(tmp_path, Redactor(), body_cap=1000, bodies="full") as t:
        response = attempt(session, t, "GET", f"{server}/page", params={"n": "50"})
        attempt(session, t, "GET", f"{server}/status")
    true_size = len(response.content)
    har = assert_valid(har_validator, t.har_path)
    big, small = (e["response"]["content"] for e in har["log"]["entries"])
    assert big["size"] == true_size > 1000
    assert big["text"] == response.content[:1000].decode()
    assert str(true_size) in big["comment"] and "truncated" in big["comment"]
    assert "comment" not in small
    assert f"> [truncated: first 1000 of {true_size} bytes shown]" in t.text_path.read_text()


def test_default_cap_is_64_kib(send, transcript, server):
    response = send("GET", f"{server}/page", params={"n": "1000"})
    content = load(transcript.har_path)["log"]["entries"][0]["response"]["content"]
    assert len(response.content) > 500_000
    assert content["size"] == len(response.content)
    assert len(content["text"]) == 65536


def test_text_transcript_uses_toolbelt_dump_layout(send, transcript, server):
    response = send("POST", f"{server}/status", json={"x": 1}, job="daily", call="status")
    text = transcript.text_path.read_bytes()
    assert dump_response(response) in text
    first = text.splitlines()[0].decode()
    assert first.startswith("=== ") and "job=daily call=status attempt=1" in first


def _record_three(tmp_path, session, server) -> Path:
    with Transcript(tmp_path, Redactor(), bodies="full") as t:
        for n in (1, 2, 3):
            attempt(session, t, "GET", f"{server}/page", params={"n": str(n)}, attempt_no=n)
    return t.har_path


def test_resume_repairs_a_torn_entry_and_extends(tmp_path, session, server, har_validator):
    path = _record_three(tmp_path, session, server)
    data = path.read_bytes()
    last_entry = data.rindex(b",\n") + 2
    path.write_bytes(data[: last_entry + 40])  # killed 40 bytes into entry 3
    with pytest.raises(json.JSONDecodeError):
        load(path)

    with Transcript(tmp_path, Redactor(), resume=True, bodies="full") as t:
        assert t.entries == 2
        assert_valid(har_validator, path)
        attempt(session, t, "GET", f"{server}/status", attempt_no=4)
        attempt(session, t, "GET", f"{server}/drop", attempt_no=5)
    har = assert_valid(har_validator, path)
    assert [e["_attempt"] for e in har["log"]["entries"]] == [1, 2, 4, 5]
    assert "=== resumed" in t.text_path.read_text()


def test_resume_after_a_cut_at_any_byte(tmp_path, session, server, har_validator):
    path = _record_three(tmp_path, session, server)
    data = path.read_bytes()
    second = data.index(b",\n") + 2
    # the trailer (one line, with the HAR pages) starts where the last entry ends
    entry_ends = [m.start() for m in re.finditer(b",\n", data)] + [data.rindex(b"\n]")]
    assert len(entry_ends) == 3
    response = session.get(f"{server}/status")
    started = dt.datetime.now(dt.timezone.utc)
    near_ends = [end + d for end in entry_ends for d in (-1, 0, 1, 2, 3)]
    cuts = sorted({*range(len(HEADER) + 3), *range(second - 3, len(data), 13), *near_ends})
    for cut in [*cuts, len(data)]:
        path.write_bytes(data[:cut])
        with Transcript(tmp_path, Redactor(), resume=True, bodies="full") as t:
            kept = t.entries
            assert kept == sum(end <= cut for end in entry_ends), cut
            t.record(
                response.request,
                response,
                started=started,
                elapsed_s=0.1,
                job="j",
                call="status",
                attempt=kept + 1,
            )
        har = assert_valid(har_validator, path)
        assert [e["_attempt"] for e in har["log"]["entries"]] == list(range(1, kept + 2))
        # The line structure that repair relies on survives the repair.
        assert path.read_bytes().count(b"\n") == kept + 3


def test_resume_refuses_a_file_that_is_not_a_transcript(tmp_path):
    (tmp_path / "transcript.har").write_text('{"something": "else"}\n')
    with pytest.raises(TranscriptError):
        Transcript(tmp_path, Redactor(), resume=True, bodies="full")
    assert (tmp_path / "transcript.har").read_text() == '{"something": "else"}\n'


def test_fresh_run_replaces_old_transcripts(tmp_path, session, server):
    _record_three(tmp_path, session, server)
    with Transcript(tmp_path, Redactor(), bodies="full") as t:
        attempt(session, t, "GET", f"{server}/status")
    assert len(load(t.har_path)["log"]["entries"]) == 1
    assert t.text_path.read_text().count("=== ") == 1


def test_resume_without_files_starts_them(tmp_path, session, server, har_validator):
    with Transcript(tmp_path / "new", Redactor(), resume=True, bodies="full") as t:
        attempt(session, t, "GET", f"{server}/status")
    assert len(assert_valid(har_validator, t.har_path)["log"]["entries"]) == 1


def test_memory_stays_flat_over_many_pages(tmp_path, session, server):
    response = session.get(f"{server}/page", params={"n": "1000"})
    response.content  # noqa: B018
    started = dt.datetime.now(dt.timezone.utc)
    with Transcript(tmp_path, Redactor(["not-in-body-secret"]), fsync=False, bodies="full") as t:

        def record(n: int) -> None:
            for _ in range(n):
                t.record(
                    response.request,
                    response,
                    started=started,
                    elapsed_s=0.01,
                    job="j",
                    call="retrieve",
                    attempt=1,
                )

        record(5)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        record(200)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    assert after - before < 256 * 1024
    assert t.har_path.stat().st_size > 200 * 65536


@MEASURED
def test_record_is_cheap_next_to_parsing_the_page(tmp_path, session, server):
    response = session.get(f"{server}/page", params={"n": "1000"})
    started = dt.datetime.now(dt.timezone.utc)

    def best(fn, n=15) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    with Transcript(
        tmp_path, Redactor(["some-hmac-secret", "some-client-secret"]), bodies="full"
    ) as t:
        cost = best(
            lambda: t.record(
                response.request,
                response,
                started=started,
                elapsed_s=0.1,
                job="j",
                call="retrieve",
                attempt=1,
            )
        )
    parse = best(response.json)
    # Generous bound so a busy CI box does not flake; the report has real figures.
    assert cost < parse, (cost, parse)


def test_streamed_request_body_is_not_consumed(send, transcript, server):
    send("POST", f"{server}/echo", data=iter([b"abc"]))
    entry = load(transcript.har_path)["log"]["entries"][0]
    assert entry["request"]["postData"]["text"] == ""
    assert entry["request"]["postData"]["comment"] == "streamed body, not recorded"


def test_streamed_response_is_not_read_behind_the_callers_back(tmp_path, session, server):
    response = session.get(f"{server}/page", params={"n": "5"}, stream=True)
    started = dt.datetime.now(dt.timezone.utc)
    with Transcript(tmp_path, Redactor(), bodies="full") as t:
        t.record(
            response.request,
            response,
            started=started,
            elapsed_s=0.1,
            job="j",
            call="retrieve",
            attempt=1,
        )
    assert response._content is False  # still unread: the caller streams it
    content = load(t.har_path)["log"]["entries"][0]["response"]["content"]
    assert content["text"] == "" and content["size"] == int(response.headers["Content-Length"])
    assert "not recorded" in content["comment"]
    assert len(response.json()["UserProfilePreferences"]) == 5
    assert "> [body streamed by the caller, not recorded]" in t.text_path.read_text()


def test_bytes_header_values_are_recorded_and_redacted(tmp_path, session, server):
    redactor = Redactor(["bytes-secret"])
    with Transcript(tmp_path, redactor, bodies="full") as t:
        attempt(
            session,
            t,
            "GET",
            f"{server}/status",
            headers={"X-Key": b"bytes-secret", "Authorization": b"Basic abc"},
        )
    headers = load(t.har_path)["log"]["entries"][0]["request"]["headers"]
    assert {"name": "X-Key", "value": "<redacted>"} in headers
    assert {"name": "Authorization", "value": "<redacted>"} in headers


def test_naive_started_is_taken_as_utc(tmp_path, session, server):
    response = session.get(f"{server}/status")
    with Transcript(tmp_path, Redactor(), bodies="full") as t:
        t.record(
            response.request,
            response,
            started=dt.datetime(2026, 11, 21, 9, 30),
            elapsed_s=0.5,
            job=None,
            call=None,
            attempt=1,
        )
    entry = load(t.har_path)["log"]["entries"][0]
    assert entry["startedDateTime"] == "2026-11-21T09:30:00.000+00:00"
    assert entry["_job"] is None


def test_no_response_without_error_is_a_failed_attempt(tmp_path, server):
    request = requests.Request("GET", f"{server}/status").prepare()
    with Transcript(tmp_path, Redactor(), bodies="full") as t:
        t.record(
            request,
            None,
            error=None,
            started=dt.datetime.now(dt.timezone.utc),
            elapsed_s=0.0,
            job="j",
            call="status",
            attempt=1,
        )
    entry = load(t.har_path)["log"]["entries"][0]
    assert entry["response"]["status"] == 0 and entry["_error"] == "no response"

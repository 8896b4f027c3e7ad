"""report.html: built from report.json and the transcript, self-contained, safe, and visible."""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from runner.commands.run import RunOptions, run_spec
from runner.records.html import render
from runner.records.report import JobResult, RunReport
from runner.records.timeline import read_timelines
from runner.run.execute import Progress, StopFlag
from tests.support import ROOT
from tests.support.runs import run
from tests.support.specs import write_spec

JOBS = """
- name: steady
  segment_group: All Profiles
  page_size: 50
  output: {format: csv}
- name: denied
  segment_group: Finance Audit
- name: gave-up
  segment_group: VIP Customers
  page_size: 50
"""


class Tags(html.parser.HTMLParser):
    """Every start tag and attribute, and whether the document closes what it opens."""

    VOID = {"meta", "br", "hr", "input", "img", "link"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def parsed(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    assert tags.open == [], f"unclosed: {tags.open}"
    return tags


def assert_self_contained(page: str) -> Tags:
    assert "<script" not in page.lower()
    assert not re.search(
        r"(?i)\b(https?|ftp|file|data|javascript):", page.replace("Content-Security-Policy", "")
    )
    assert "@import" not in page and "url(" not in page
    tags = parsed(page)
    names = {t for t, _ in tags.tags}
    assert not names & {"script", "img", "link", "iframe", "object", "embed", "form", "base"}
    for tag, attrs in tags.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        assert attrs.get("href", "#").startswith("#"), (tag, attrs)
        assert "src" not in attrs
    return tags


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(page: Path, png: Path, profile: Path) -> bytes:
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium package)")
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1200,1800",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert png.exists(), "chromium wrote no screenshot"
    return png.read_bytes()


def png_colours(data: bytes) -> int:
    """How many distinct pixels a PNG's first rows hold (8-bit RGB/RGBA, any filter)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    pixels: set[bytes] = set()
    for row in range(min(height, 900)):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 255
        previous = line
        if row % 7 == 0:
            pixels.update(bytes(line[i : i + bpp]) for i in range(0, stride, bpp * 3))
    return len(pixels)


def test_report_html_of_a_run_with_retries_and_failures(sandbox, tmp_path, segrun):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS, top="name: nightly\n")
    # steady: 6 pages, three failed attempts among them; gave-up: 4 refusals, the retry limit
    sandbox.faults.script("retrieve", ["503", "503", "ok", "ok", "429", *["ok"] * 4, *["503"] * 4])
    outcome = run(spec, tmp_path)
    assert [j.status for j in outcome.report.jobs] == ["succeeded", "failed", "failed"]
    page_path = outcome.run_dir / "report.html"
    page = page_path.read_text(encoding="utf-8")
    tags = assert_self_contained(page)
    text = " ".join(tags.text)
    assert "steady" in text and "denied" in text
    assert "HTTP 503" in text and "HTTP 429" in text and "offset 1" in text
    assert "Failed attempts and waits (3)" in text
    assert "help: the user lacks permission for this segment group" in text
    assert "retrieve failed after 4 attempts" in text and "help: the server kept refusing" in text
    assert f"segrun run {spec} --resume {outcome.run_dir}" in text
    assert "sha256 " + outcome.report.jobs[0].sha256 in text
    assert page.count("<svg") == 3
    # rebuilt by the command, byte for byte the same
    page_path.unlink()
    result = segrun("report", str(outcome.run_dir))
    assert result.returncode == 0, result.stderr
    assert page_path.read_text(encoding="utf-8") == page
    # the picture is not blank; kept under the run directory as an artifact
    shots = outcome.run_dir / "screenshots"
    shots.mkdir()
    data = screenshot(page_path, shots / "report.png", tmp_path / "chrome")
    assert png_colours(data) > 8


def test_report_html_of_an_interrupted_run_says_how_to_resume(sandbox, tmp_path):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    stop = StopFlag()

    class StopAfterAPage(Progress):
        def advance(self, job, records):
            if records:
                stop.request()

    options = RunOptions(out=tmp_path / "run", quiet=True, progress=StopAfterAPage())
    outcome = run_spec(str(spec), options, environ={}, stop=stop)
    assert outcome.report.status == "interrupted"
    page = (outcome.run_dir / "report.html").read_text(encoding="utf-8")
    text = " ".join(assert_self_contained(page).text)
    assert "interrupted" in text
    assert f"segrun run {spec} --resume {outcome.run_dir}" in text
    assert "help: resume the run" in text


def test_hostile_strings_never_become_markup(tmp_path):
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
    report = RunReport("failed", "2026-01-01T00:00:00.000Z", None, f"/specs/{evil}.yaml")
    report.jobs = [
        JobResult("j", evil, "failed", error=f"initiate answered HTTP 404: {evil}", notes=[evil])
    ]
    entry = {
        "startedDateTime": "2026-01-01T00:00:00.100+00:00",
        "time": 5,
        "request": {"method": "GET", "url": "http://127.0.0.1/x?offset=1"},
        "response": {"status": 503, "content": {"text": json.dumps({"Message": evil})}},
        "_job": "j",
        "_call": evil,
        "_attempt": 1,
    }
    har = tmp_path / "transcript.har"
    har.write_text('{"log": {"entries": [\n' + json.dumps(entry) + "\n]}}\n")
    page = render(report, read_timelines(har), str(tmp_path / evil))
    assert_self_contained(page)
    assert page.count("&lt;script&gt;") >= 5


def test_a_ten_thousand_page_transcript_folds_into_bands(tmp_path):
    lines = []
    for n in range(10_000):
        body = json.dumps({"UserProfilePreferences": [{"ProfileId": n}] * 200})
        lines.append(
            json.dumps(
                {
                    "startedDateTime": f"2026-01-01T00:{n // 6000:02d}:{n // 100 % 60:02d}.{n % 100 * 10:03d}+00:00",
                    "time": 4.0,
                    "request": {
                        "method": "GET",
                        "url": f"http://127.0.0.1/r?limit=1&offset={n + 1}",
                    },
                    "response": {
                        "status": 200,
                        "content": {"size": len(body), "text": body},
                        "redirectURL": "",
                    },
                    "_job": "big",
                    "_call": "retrieve",
                    "_attempt": 1,
                }
            )
        )
    har = tmp_path / "transcript.har"
    har.write_text('{"log": {"entries": [\n' + ",\n".join(lines) + "\n]}}\n")
    timelines = read_timelines(har)
    bands = timelines["big"].bands["retrieve"]
    assert 10 < len(bands) <= 48
    assert sum(b.count for b in bands) == 10_000
    assert bands[0].first_offset == 1 and bands[-1].last_offset == 10_000
    report = RunReport("succeeded", "2026-01-01T00:00:00.000Z", "2026-01-01T00:02:00.000Z", "s")
    report.jobs = [JobResult("big", "All", "succeeded", records=10_000, row_count=10_000)]
    page = render(report, timelines, "run")
    assert len(page) < 60_000
    assert_self_contained(page)


def test_segrun_report_refuses_what_is_not_a_run_cleanly(segrun, tmp_path):
    for content, said in [
        (None, "no report.json there; is it a segrun run directory?"),
        ('{"status": "succeeded"', "is not a report segrun wrote"),
        ("[1, 2]", "is not a report segrun wrote"),
        ("[" * 100_000, "is not a report segrun wrote"),
    ]:
        if content is not None:
            (tmp_path / "report.json").write_text(content)
        result = segrun("report", str(tmp_path))
        assert result.returncode == 2, result.stderr
        assert said in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "report.html").exists()


def test_report_with_a_fifo_transcript_never_hangs(segrun, tmp_path):
    """report.json was checked for a regular file, transcript.har opened as it was:
    a FIFO in its place blocked `segrun report` for ever."""
    shutil.copy(ROOT / "examples" / "quickstart.yaml", tmp_path / "q.yaml")
    assert segrun("run", "-q", "q.yaml", "--out", "base", cwd=tmp_path).returncode == 0
    har = tmp_path / "base" / "transcript.har"
    har.unlink()
    os.mkfifo(har)
    try:
        r = segrun("report", "base", cwd=tmp_path, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("segrun report hung on a FIFO transcript.har")
    # built without the timeline, or refused
    assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r.stderr

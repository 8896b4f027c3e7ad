"""`report.html`: the run as a person reads it, in one self-contained file.

Built only from report.json and transcript.har, which are already redacted, so
no secret can reach it that those files do not hold. It has inline CSS, no
JavaScript and no external resource (a CI artifact viewer's Content Security
Policy blocks them), and every string from the spec or the server goes through
`_e` (job names, notes, errors and messages are attacker-chosen text).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import sys
from pathlib import Path

from runner.records.hints import advice_for, resume_command
from runner.records.report import JobResult, RunReport
from runner.records.timeline import Band, Failure, JobTimeline, read_timelines
from runner.redaction.sink import current

HTML_NAME = "report.html"
#: the timeline's drawing area, in SVG user units
_WIDTH, _LABEL, _LANE = 960, 90, 26
_LANES = ("initiate", "status", "retrieve", "commit")
_LANE_NAMES = {
    "initiate": "Initiate",
    "status": "Status",
    "retrieve": "Retrieve",
    "commit": "Commit",
}
#: the shortest time the timeline's width stands for, in seconds
MIN_SPAN = 1.0
_WATERMARK = re.compile(r"last_success: watermark (\S+) .*sent as (\S+)")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def write_html_report(run_dir: Path, *, display_dir: str | None = None) -> Path:
    """(Re)build report.html from the run directory's report.json and transcript.har.

    `display_dir` is the run directory as the user named it, for the resume
    command shown. The file is replaced atomically; it is derived, so it is
    not one of the run's durable steps.
    """
    run_dir = Path(run_dir)
    report = RunReport.load(run_dir / "report.json")
    timelines = read_timelines(run_dir / "transcript.har")
    page = render(report, timelines, display_dir or str(run_dir))
    target = run_dir / HTML_NAME
    # Through the gate like every file: its sources were redacted, but a run's
    # redactor may know a secret that a decoded message now spells plainly.
    current().write_atomic(target, page)
    return target


def write_html_report_quietly(run_dir: Path) -> Path | None:
    """The end of a run: report.html, or a warning on stderr; the run's outcome
    stands either way (`segrun report` can build it again)."""
    try:
        return write_html_report(run_dir)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        print(f"segrun: warning: report.html not written: {e}", file=sys.stderr)
        return None


def render(report: RunReport, timelines: dict[str, JobTimeline], run_dir: str) -> str:
    """The whole page as text."""
    title = f"segrun run {report.status}: {Path(report.spec).name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(report, run_dir),
        _jobs_table(report, timelines),
        _errors(report, run_dir),
    ]
    for job in report.jobs:
        parts.append(_job_section(job, timelines.get(job.name)))
    parts.append(
        "<footer>Built by segrun from report.json and transcript.har; "
        "rebuild it with <code>segrun report RUN_DIR</code>.</footer></body></html>\n"
    )
    return "\n".join(parts)


# -- the parts ---------------------------------------------------------------------
def _header(report: RunReport, run_dir: str) -> str:
    counts = ", ".join(
        f"{n} {s}"
        for s in ("succeeded", "failed", "interrupted", "skipped")
        if (n := report.count(s))
    )
    took = _between(report.started, report.finished)
    finished = report.finished or "not finished (the run stopped before closing its report)"
    rows = [
        ("spec", f"<code>{_e(report.spec)}</code>"),
        ("run directory", f"<code>{_e(run_dir)}</code>"),
        ("started", _e(report.started)),
        ("finished", _e(finished) + (f" ({_e(took)})" if took else "")),
        ("jobs", _e(counts or "none")),
        ("exit code", _e(report.exit_code)),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        f'<header class="run {_e(report.status)}"><h1>'
        f'<span class="badge {_e(report.status)}">{_e(report.status)}</span> '
        f"{_e(Path(report.spec).name)}</h1>"
        f'<table class="facts">{body}</table></header>'
    )


def _jobs_table(report: RunReport, timelines: dict[str, JobTimeline]) -> str:
    head = (
        "<tr><th>job</th><th>status</th><th class=n>records</th><th>RowCount / TotalResults"
        "</th><th class=n>retries</th><th class=n>time</th><th>output</th>"
        "<th>watermark before / after</th></tr>"
    )
    rows = []
    for job in report.jobs:
        before, after = _watermarks(job, timelines.get(job.name))
        output = "&mdash;"
        if job.output:
            output = f"<code>{_e(job.output)}</code>"
            if job.sha256:
                output += f'<br><code class="sha">sha256 {_e(job.sha256)}</code>'
        rows.append(
            f'<tr><td><a href="#job-{_anchor(job.name)}">{_e(job.name)}</a><br>'
            f"<small>{_e(job.segment_group)}</small></td>"
            f'<td><span class="badge {_e(job.status)}">{_e(job.status)}</span></td>'
            f"<td class=n>{job.records:,}</td><td>{_check(job)}</td>"
            f"<td class=n>{job.retries:,}<br><small>{_plural(job.attempts, 'attempt')}</small></td>"
            f"<td class=n>{_seconds(job.duration_s)}</td><td>{output}</td>"
            f"<td>{_e(before)}" + (f"<br>{_e(after)}" if after != before else "") + "</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="8">No job was run.</td></tr>')
    return f'<h2>Jobs</h2><table class="jobs">{head}{"".join(rows)}</table>'


def _errors(report: RunReport, run_dir: str) -> str:
    items, told = [], set()
    for job in report.jobs:
        if not job.error:
            continue
        hint = advice_for(job.kind)
        shown = hint if hint and hint not in told else None  # each piece of advice once
        told.add(hint)
        items.append(
            f"<li><b>{_e(job.name)}</b>: {_e(job.error)}"
            + (f'<div class="help">help: {_e(shown)}</div>' if shown else "")
            + "</li>"
        )
    out = []
    if items:
        out.append(f'<h2>Errors</h2><ul class="errors">{"".join(items)}</ul>')
    if report.status in ("failed", "interrupted") or report.finished is None:
        command = resume_command(report.spec, run_dir)
        out.append(
            '<div class="resume"><h2>Resume this run</h2>'
            "<p>Jobs that succeeded are kept; the others continue from their last durable "
            f"page:</p><pre>{_e(command)}</pre></div>"
        )
    return "".join(out)


def _job_section(job: JobResult, timeline: JobTimeline | None) -> str:
    parts = [
        f'<section id="job-{_anchor(job.name)}"><h2>'
        f'<span class="badge {_e(job.status)}">{_e(job.status)}</span> {_e(job.name)}</h2>'
    ]
    if job.notes:
        notes = "".join(f"<li>{_e(n)}</li>" for n in job.notes)
        parts.append(f'<ul class="notes">{notes}</ul>')
    if timeline is None:
        parts.append("<p class=quiet>No call of this job is in the transcript.</p></section>")
        return "".join(parts)
    parts.append(_svg(timeline))
    parts.append(_calls_table(timeline))
    parts.append(_failures_table(timeline))
    parts.append("</section>")
    return "".join(parts)


def _svg(t: JobTimeline) -> str:
    # A job of a few milliseconds is not stretched over the whole width.
    span = max(t.end - t.start, MIN_SPAN)
    inner = _WIDTH - _LABEL - 10
    height = _LANE * len(_LANES) + 24

    def x(moment: float) -> float:
        return _LABEL + (moment - t.start) / span * inner

    shapes = []
    for i, lane in enumerate(_LANES):
        y = i * _LANE + 4
        shapes.append(
            f'<text x="4" y="{y + 15}" class="lane">{_LANE_NAMES[lane]}</text>'
            f'<rect x="{_LABEL}" y="{y}" width="{inner}" height="{_LANE - 6}" class="track"/>'
        )
        for band in t.bands.get(lane, []):
            left = x(band.start)
            width = max(2.0, x(band.end) - left)
            shapes.append(
                f'<rect x="{left:.1f}" y="{y}" width="{width:.1f}" height="{_LANE - 6}" '
                f'class="ok {lane}"><title>{_e(_band_text(lane, band, t.start))}</title></rect>'
            )
    for f in t.failures:
        row = _LANES.index(f.call) if f.call in _LANES else 0
        y = row * _LANE + 4
        left = x(f.start)
        if f.wait:
            wx = x(f.end)
            shapes.append(
                # full height, over any band that the folding stretched across the wait
                f'<rect x="{wx:.1f}" y="{y}" width="{max(1.0, x(f.end + f.wait) - wx):.1f}" '
                f'height="{_LANE - 6}" class="wait"><title>{_e(_failure_text(f))}</title></rect>'
            )
        shapes.append(
            f'<rect x="{left:.1f}" y="{y - 2}" width="{max(3.0, x(f.end) - left):.1f}" '
            f'height="{_LANE - 2}" class="fail"><title>{_e(_failure_text(f))}</title></rect>'
        )
    axis_y = len(_LANES) * _LANE + 16
    for k in range(5):
        at = _LABEL + inner * k / 4
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        shapes.append(
            f'<line x1="{at:.1f}" y1="2" x2="{at:.1f}" y2="{axis_y - 12}" class="tick"/>'
            f'<text x="{at:.1f}" y="{axis_y}" text-anchor="{anchor}" class="axis">'
            f"+{_seconds(span * k / 4)}</text>"
        )
    return (
        f'<svg class="timeline" viewBox="0 0 {_WIDTH} {height}" width="100%" '
        f'role="img" aria-label="timeline of calls">{"".join(shapes)}</svg>'
        '<p class="legend"><span class="key ok retrieve"></span> answered '
        '<span class="key fail"></span> failed attempt '
        '<span class="key wait"></span> waiting before the retry</p>'
    )


def _calls_table(t: JobTimeline) -> str:
    rows = []
    for lane in _LANES:
        for band in t.bands.get(lane, []):
            rows.append(
                (
                    band.start,
                    f"<tr><td class=w>{_LANE_NAMES[lane]}</td><td class=n>{band.count:,}</td>"
                    f"<td>{_e(_band_detail(lane, band))}</td>"
                    f"<td class=n>+{_seconds(band.start - t.start)}</td>"
                    f"<td class=n>{_seconds(band.end - band.start)}</td></tr>",
                )
            )
    rows.sort(key=lambda r: r[0])
    return (
        "<details><summary>Calls "
        f"({_plural(t.attempts, 'attempt')}; successful ones grouped into bands)</summary>"
        '<table class="calls"><tr><th>call</th><th class=n>answered</th><th>what</th>'
        "<th class=n>at</th><th class=n>took</th></tr>"
        f"{''.join(r for _, r in rows)}</table></details>"
    )


def _failures_table(t: JobTimeline) -> str:
    if not t.failures_total:
        return '<p class="quiet">No retry: every call was answered the first time.</p>'
    rows = []
    for f in t.failures:
        waited = "no retry after it" if f.wait is None else f"waited {_seconds(f.wait)}"
        where = f"offset {f.offset:,}" if f.offset is not None else ""
        rows.append(
            f"<tr><td class=n>+{_seconds(f.start - t.start)}</td>"
            f"<td class=w>{_LANE_NAMES.get(f.call, _e(f.call))}</td><td class=w>{_e(where)}</td>"
            f"<td class=w>attempt {f.attempt}</td><td><b>{_e(f.answer)}</b>"
            + (f"<br><small>{_e(f.message)}</small>" if f.message else "")
            + f"</td><td class=w>{_e(waited)}</td></tr>"
        )
    more = t.failures_total - len(t.failures)
    tail = f"<p>{more:,} more failed attempts are in transcript.har.</p>" if more > 0 else ""
    return (
        f"<h3>Failed attempts and waits ({t.failures_total:,})</h3>"
        '<table class="failures"><tr><th class=n>at</th><th>call</th><th>where</th>'
        "<th>attempt</th><th>answer</th><th>then</th></tr>"
        f"{''.join(rows)}</table>{tail}"
    )


# -- words -------------------------------------------------------------------------
def _check(job: JobResult) -> str:
    if job.row_count is None:
        return "&mdash;"
    if job.status == "succeeded":
        return f'<span class="yes">{job.records:,} = {job.row_count:,} &#10003;</span>'
    return f"{job.records:,} of {job.row_count:,}"


def _watermarks(job: JobResult, timeline: JobTimeline | None) -> tuple[str, str]:
    before = after = "\u2014"
    incremental = False
    for note in job.notes:
        note = note.removeprefix("warning: ")
        if not note.startswith("last_success:"):
            continue
        incremental = True
        found = _WATERMARK.search(note)
        before = f"{found.group(1)} (sent as {found.group(2)})" if found else "none: full export"
    if incremental and job.status == "succeeded":
        when = timeline.initiated if timeline is not None else None
        after = "stored: its Initiate, \u2248 " + _iso(when) if when is not None else "stored"
    elif incremental:
        after = "unchanged (the job did not succeed)"
    return before, after


def _band_text(lane: str, band: Band, origin: float) -> str:
    return (
        f"{_LANE_NAMES[lane]} \u00d7{band.count}: {_band_detail(lane, band)} "
        f"(+{_seconds(band.start - origin)}, took {_seconds(band.end - band.start)})"
    )


def _band_detail(lane: str, band: Band) -> str:
    if lane == "retrieve" and band.first_offset is not None:
        if band.count == 1:
            return f"page at offset {band.first_offset:,}"
        return f"{band.count:,} pages, offsets {band.first_offset:,} to {band.last_offset:,}"
    if lane == "status" and band.first_status:
        if band.first_status == band.last_status:
            return band.first_status
        return f"{band.first_status} \u2192 {band.last_status}"
    return "answered"


def _failure_text(f: Failure) -> str:
    where = f" at offset {f.offset:,}" if f.offset is not None else ""
    then = "no retry" if f.wait is None else f"waited {_seconds(f.wait)}"
    said = f" ({f.message})" if f.message else ""
    call = _LANE_NAMES.get(f.call, f.call)
    return f"{f.answer} on {call}{where}, attempt {f.attempt}{said}: {then}"


def _seconds(value: float) -> str:
    if value < 10:
        return f"{value:.2f}s"
    if value < 600:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{seconds:02d}s"


def _between(start: str, end: str | None) -> str | None:
    try:
        a = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(end.replace("Z", "+00:00")) if end else None
    except (AttributeError, ValueError):
        return None
    return _seconds((b - a).total_seconds()) if b else None


def _iso(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def _anchor(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


_CSS = """
:root{--ok:#1a7f37;--fail:#cf222e;--warn:#bf8700;--int:#8250df;--mute:#57606a;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
margin:0 auto;padding:20px 28px;max-width:1200px;background:#fff}
h1{font-size:22px;margin:0 0 10px}h2{font-size:17px;margin:26px 0 8px}
h3{font-size:14px;margin:14px 0 6px}
code,pre{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:10px;
white-space:pre-wrap;word-break:break-all}
header.run{border-left:6px solid var(--mute);padding:10px 16px;background:#f6f8fa;border-radius:6px}
header.succeeded{border-color:var(--ok)}header.failed{border-color:var(--fail)}
header.interrupted{border-color:var(--int)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:5px 8px;border-bottom:1px solid var(--line)}
th{background:#f6f8fa;font-weight:600}
table.facts{width:auto}table.facts th{background:none;padding-left:0;color:var(--mute)}
table.facts td,table.facts th{border:0;padding-top:1px;padding-bottom:1px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td{overflow-wrap:break-word}small{color:var(--mute)}
td.n,td.w{white-space:nowrap}td code{overflow-wrap:anywhere}
code.sha{font-size:11px;color:var(--mute)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;
font-weight:600;background:var(--mute);vertical-align:2px;white-space:nowrap}
.badge.succeeded{background:var(--ok)}.badge.failed{background:var(--fail)}
.badge.interrupted{background:var(--int)}.badge.skipped{background:#6e7781}
.yes{color:var(--ok)}
ul.errors li{margin:4px 0}.help{color:#0550ae;margin-left:1em}
.resume{border:1px solid var(--int);border-radius:6px;padding:0 14px 4px;margin-top:18px}
.resume h2{margin-top:10px}
section{border-top:1px solid var(--line);margin-top:24px}
ul.notes{color:var(--mute);margin:4px 0 10px}
svg.timeline{display:block;margin:6px 0;background:#fff;max-height:160px}
svg .lane{font:12px system-ui,sans-serif;fill:#1f2328}
svg .axis{font:11px system-ui,sans-serif;fill:var(--mute)}
svg .track{fill:#f6f8fa}svg .tick{stroke:var(--line);stroke-width:1}
svg .ok{fill:#2da44e}svg .ok.status{fill:#8c959f}svg .ok.initiate{fill:#0969da}
svg .ok.commit{fill:#8250df}svg .fail{fill:var(--fail)}
svg .wait{fill:#f5c518}
.legend{color:var(--mute);font-size:12px;margin:0 0 8px}
.key{display:inline-block;width:12px;height:10px;margin:0 4px 0 10px;vertical-align:0}
.key.ok{background:#2da44e}.key.fail{background:var(--fail)}.key.wait{background:#f5c518}
details{margin:6px 0}summary{cursor:pointer;color:#0550ae}
.quiet{color:var(--mute)}
footer{margin-top:30px;color:var(--mute);font-size:12px}
"""

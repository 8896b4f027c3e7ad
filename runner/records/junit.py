"""`junit.xml`: the run as one test suite, one test case per job, so a CI server
shows which export failed without anyone opening the report.

Checked against the JUnit schema Jenkins' xUnit plugin uses (junit-10.xsd),
which the common CI servers read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
import socket
import xml.etree.ElementTree as ET
from pathlib import PurePath

from runner.records.report import JobResult, RunReport
from runner.redaction.sink import Sink, current

# XML 1.0 cannot carry these at all, not even escaped; an error message from a
# socket or a server body may contain them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_junit(path: str | os.PathLike[str], report: RunReport, sink: Sink | None = None) -> None:
    """Write `report` as JUnit XML at `path`, atomically, through the sink.

    Redacted before it is built (XML escaping would hide a secret holding `&`
    or `<` from a scan of the text) and scanned again as text.
    """
    sink = sink or current()
    clean = _redacted(report, sink.text)
    tree = ET.ElementTree(build(clean))
    ET.indent(tree)
    buffer = io.StringIO()
    tree.write(buffer, encoding="unicode", xml_declaration=True)
    sink.write_atomic(path, buffer.getvalue() + "\n")


def _redacted(report: RunReport, scan) -> RunReport:
    """A copy whose free text (names, errors, notes, paths) is redacted."""
    jobs = [
        dataclasses.replace(
            job,
            name=scan(job.name),
            segment_group=scan(job.segment_group),
            output=job.output and scan(job.output),
            error=job.error and scan(job.error),
            notes=[scan(note) for note in job.notes],
        )
        for job in report.jobs
    ]
    return dataclasses.replace(report, spec=scan(report.spec), jobs=jobs)


def build(report: RunReport) -> ET.Element:
    stem = PurePath(report.spec).stem or "spec"
    suite = ET.Element(
        "testsuite",
        {
            "name": "segrun",
            "tests": str(len(report.jobs)),
            "failures": str(report.count("failed")),
            "errors": str(report.count("interrupted")),
            "skipped": str(report.count("skipped")),
            "time": _seconds(_run_time(report)),
            "timestamp": _timestamp(report.started),
            "hostname": socket.gethostname(),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("spec", report.spec), ("status", report.status)):
        ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    for job in report.jobs:
        suite.append(_testcase(job, f"segrun.{stem}"))
    return suite


def _testcase(job: JobResult, classname: str) -> ET.Element:
    case = ET.Element(
        "testcase",
        {
            "classname": _clean(classname),
            "name": _clean(job.name),
            "time": _seconds(job.duration_s),
        },
    )
    message = _clean(job.error or "")
    if job.status == "failed":
        failure = ET.SubElement(
            case, "failure", {"message": message or "job failed", "type": "JobFailed"}
        )
        failure.text = _clean(_details(job))
    elif job.status == "interrupted":
        error = ET.SubElement(
            case, "error", {"message": message or "run interrupted", "type": "Interrupted"}
        )
        error.text = _clean(_details(job))
    elif job.status == "skipped":
        attrs = {"message": _clean("; ".join(job.notes))} if job.notes else {}
        ET.SubElement(case, "skipped", attrs)
    out = ET.SubElement(case, "system-out")
    out.text = _clean(_details(job))
    return case


def _details(job: JobResult) -> str:
    lines = [
        f"segment_group: {job.segment_group}",
        f"status: {job.status}",
        f"access_token: {job.access_token if job.access_token is not None else '-'}",
        f"records: {job.records}"
        + (f" (server RowCount {job.row_count})" if job.row_count is not None else ""),
        f"attempts: {job.attempts} (retries {job.retries})",
    ]
    if job.output:
        lines.append(f"output: {job.output}")
    if job.sha256:
        lines.append(f"sha256: {job.sha256}")
    if job.error:
        lines.append(f"error: {job.error}")
    lines += [f"note: {note}" for note in job.notes]
    return "\n".join(lines)


def _run_time(report: RunReport) -> float:
    try:
        started = dt.datetime.fromisoformat(report.started.replace("Z", "+00:00"))
        finished = dt.datetime.fromisoformat((report.finished or "").replace("Z", "+00:00"))
        return max((finished - started).total_seconds(), 0.0)
    except ValueError:
        return sum(job.duration_s for job in report.jobs)


def _timestamp(started: str) -> str:
    # Ant's JUnit writes a zone-less local ISO time; ours is UTC, so say nothing
    # more than the seconds CI servers parse.
    try:
        moment = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return _clean(started)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)

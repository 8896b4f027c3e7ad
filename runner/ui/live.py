"""The run as it happens, on stderr: a live line per running job on a terminal,
or one plain line per event with `-v`, or nothing.

The live display says what is true now: the job's state (Initiate, Processing
for 12s, Retrieving, Committing), records of RowCount with the rate and an ETA,
and, while segrun waits before a retry, what failed and for how long. Finished
jobs stay on screen with their outcome. Every line is cut to the terminal's
width, so nothing wraps and scrolls. Nothing here comes from a request's
headers, so no secret can be printed; texts from the server are cut short.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from runner.http.client import RetryNotice
from runner.jobspec.model import Job
from runner.records.report import JobResult
from runner.run.execute import Progress

if TYPE_CHECKING:
    from rich.live import Live

#: retry notices kept on screen per job; later ones only show while they wait
MAX_RETRY_LINES = 8
_CALLS = {"initiate": "Initiate", "status": "Status", "retrieve": "Retrieve", "commit": "Commit"}
_MARKS = {"succeeded": "✓", "failed": "✗", "interrupted": "■", "skipped": "-"}


@dataclass
class _Running:
    """What is known of the job now running."""

    name: str
    index: int
    count: int
    started: float
    fmt: str = "jsonl"
    state: str = "Initiate"
    since: float = 0.0  # when the current state began
    total: int | None = None
    done: int = 0
    base: tuple[float, int] | None = None  # (time, records) the rate is measured from
    notice: str | None = None
    notice_until: float = 0.0
    retries: int = 0
    shown_retries: int = 0
    history: list[str] = field(default_factory=list)


def retry_text(notice: RetryNotice) -> str:
    """ "503 on Retrieve at offset 40,001" (the start of a retry notice)."""
    what = str(notice.status) if notice.status is not None else notice.reason
    where = f" at offset {notice.offset:,}" if notice.offset is not None else ""
    return f"{what} on {_CALLS.get(notice.call, notice.call)}{where}"


def _fold(text: str, width: int) -> list[str]:
    """A notice too wide for the terminal, broken after its first ": " (the second
    line indented) rather than left to wrap or cut; each part is then cut to fit."""
    if len(text) <= width or ": " not in text.strip():
        return [text]
    indent = len(text) - len(text.lstrip())
    cut = text.rfind(": ", 0, width)
    if cut <= indent:
        cut = text.find(": ", indent)
    return [text[: cut + 1], " " * (indent + 2) + text[cut + 2 :]]


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{seconds:02d}s"


class _Lines(Progress):
    """The facts both displays share; subclasses decide how they reach the screen.

    Several jobs may run at once (`--jobs`), each telling its facts from its own
    thread: one lock orders them, so a line is never drawn from half-updated facts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.order: dict[str, int] = {}
        #: the jobs running now, in the order they started
        self.running: dict[str, _Running] = {}
        self.lock = threading.RLock()

    def begin(self, jobs: Sequence[Job]) -> None:
        self.order = {job.name: i for i, job in enumerate(jobs, start=1)}

    def start(self, job: Job) -> None:
        with self.lock:
            now = self.clock()
            index = self.order.get(job.name, len(self.order) + 1)
            running = _Running(
                job.name, index, max(len(self.order), index), now, fmt=job.output_format, since=now
            )
            self.running[job.name] = running
            self.event(running, f"job {index} of {running.count}: Initiate")

    def status(self, job: Job, status: str) -> None:
        with self.lock:
            running = self.running.get(job.name)
            if running is not None and status != running.state:
                running.state, running.since = status, self.clock()
                self.event(running, f"Status {status}")

    def total(self, job: Job, row_count: int) -> None:
        with self.lock:
            running = self.running.get(job.name)
            if running is None:
                return
            running.total, running.state, running.since = row_count, "Retrieving", self.clock()
            self.event(running, f"RowCount {row_count:,}: retrieving")

    def advance(self, job: Job, records: int) -> None:
        with self.lock:
            running = self.running.get(job.name)
            if running is None:
                return
            running.done += records
            if running.base is None:  # from the first page on (a resumed job starts part-way)
                running.base = (self.clock(), running.done)
            finished = running.total is not None and running.done >= running.total
            if finished and running.state != "Committing":
                running.state, running.since = "Committing", self.clock()
                self.event(running, f"{running.done:,} records retrieved: committing")
        self.refresh()

    def retry(self, notice: RetryNotice) -> None:
        with self.lock:
            running = self.running.get(notice.job)
            if running is None:
                return
            text = (
                f"{retry_text(notice)}: retrying in {_seconds(notice.wait)}, "
                f"attempt {notice.attempt} of {notice.attempts}"
            )
            running.retries += 1
            running.notice, running.notice_until = text, self.clock() + notice.wait
            self.retry_event(running, text)

    def finish(self, job: Job, result: JobResult) -> None:
        with self.lock:
            self.running.pop(job.name, None)
            self.done_line(_outcome(result, self.name_width()))

    def name_width(self) -> int:
        return 0

    # how the facts reach the screen (called with the lock held)
    def event(self, running: _Running, text: str) -> None: ...

    def retry_event(self, running: _Running, text: str) -> None:
        self.event(running, text)

    def done_line(self, text: str) -> None: ...

    def refresh(self) -> None: ...


def _outcome(result: JobResult, name_width: int = 0) -> str:
    """ "✓ name  succeeded  2,000 of 2,000 records  3.1s  645 rec/s  1 retry"; a name
    longer than `name_width` (when given) is cut so the outcome still shows."""
    mark = _MARKS.get(result.status, "?")
    name = result.name
    if name_width and len(name) > name_width:
        name = name[: name_width - 1] + "…"
    head = f"{mark} {name}  {result.status}  {result.records:,}"
    if result.row_count is not None:
        head += f" of {result.row_count:,}"
    head += f" records  {_seconds(result.duration_s)}"
    if result.duration_s > 0 and result.records:
        head += f"  {result.records / result.duration_s:,.0f} rec/s"
    if result.retries:
        head += f"  {result.retries} {'retry' if result.retries == 1 else 'retries'}"
    if result.error:
        head += f": {result.error}"
    return head


class EventLines(_Lines):
    """-v off a terminal (or on one): one plain line per event, nothing redrawn."""

    def __init__(self, stream: TextIO | None = None, clock=time.monotonic) -> None:
        super().__init__(clock)
        self.stream = stream or sys.stderr

    def event(self, running: _Running, text: str) -> None:
        self._write(f"[{running.name}] {text}")

    def done_line(self, text: str) -> None:
        self._write(text)

    def _write(self, line: str) -> None:
        self.stream.write(line.replace("\n", " ") + "\n")
        self.stream.flush()


class LiveDisplay(_Lines):
    """The live lines on a terminal, drawn by rich and cut to the terminal's width."""

    def __init__(
        self, stream: TextIO | None = None, clock=time.monotonic, width: int | None = None
    ) -> None:
        from rich.console import Console

        super().__init__(clock)
        self.console = Console(
            file=stream or sys.stderr,
            width=width,
            highlight=False,
            soft_wrap=False,
            emoji=False,
            markup=False,
        )
        self._live: Live | None = None
        self._stop_at_exit = False

    def start(self, job: Job) -> None:
        from rich.live import Live

        super().start(job)
        with self.lock:  # one live area for all the jobs running at once
            if self._live is not None:
                return
            self._live = Live(
                console=self.console,
                get_renderable=self._render,
                transient=True,
                auto_refresh=True,
                refresh_per_second=4,
                redirect_stdout=False,
                redirect_stderr=True,
            )
            self._live.start()
            if not self._stop_at_exit:  # a run that dies mid-job still gives the cursor back
                atexit.register(self._stop)
                self._stop_at_exit = True

    def finish(self, job: Job, result: JobResult) -> None:
        super().finish(job, result)
        with self.lock:
            if not self.running:
                self._stop()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def retry_event(self, running: _Running, text: str) -> None:
        if running.shown_retries < MAX_RETRY_LINES:
            running.shown_retries += 1
            for part in _fold(f"  {running.name}: {text}", self.console.width):
                self._print(part, style="yellow")
        elif running.shown_retries == MAX_RETRY_LINES:
            running.shown_retries += 1
            self._print(f"  {running.name}: more retries follow (see report.html)", style="yellow")
        self.refresh()

    def done_line(self, text: str) -> None:
        style = {"✓": "green", "✗": "red", "■": "magenta"}.get(text[:1])
        self._print(text, style=style)

    def name_width(self) -> int:
        return max(12, self.console.width // 3)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _print(self, text: str, style: str | None = None) -> None:
        from rich.text import Text

        line = Text(text, style=style or "", no_wrap=True, overflow="ellipsis")
        line.truncate(self.console.width, overflow="ellipsis")
        self.console.print(line, crop=True, soft_wrap=False)

    def _render(self):
        """Two lines a running job, in the spec's order: which job, then what it is
        doing (the least telling figures last, so a narrow terminal cuts those).

        Called by rich with its own lock held, so it takes no lock of ours (a job
        printing a line holds ours and waits for rich's): it reads a copy."""
        from rich.console import Group
        from rich.text import Text

        jobs = sorted(list(self.running.values()), key=lambda r: r.index)
        if not jobs:
            return Text("")
        now = self.clock()
        lines = []
        for running in jobs:
            lines.append(
                Text(
                    f"job {running.index} of {running.count}  {running.name}",
                    style="bold",
                    no_wrap=True,
                    overflow="ellipsis",
                )
            )
            if running.notice is not None and now < running.notice_until:
                left = running.notice_until - now
                text = f"  {running.notice} ({_seconds(left)} left)"
                lines += [
                    Text(part, style="yellow", no_wrap=True, overflow="ellipsis")
                    for part in _fold(text, self.console.width)
                ]
            else:
                lines.append(
                    Text("  " + self._state_text(running, now), no_wrap=True, overflow="ellipsis")
                )
        return Group(*lines)

    @staticmethod
    def _state_text(running: _Running, now: float) -> str:
        elapsed = _seconds(now - running.started)
        if running.state == "Retrieving" and running.total is not None:
            text = f"Retrieving {running.done:,}/{running.total:,}"
            if running.total:
                text += f" {100 * running.done // running.total}%"
            rate = eta = None
            if running.base is not None:
                took = now - running.base[0]
                if took > 0.2 and running.done > running.base[1]:
                    rate = (running.done - running.base[1]) / took
                    eta = (running.total - running.done) / rate if rate else None
            text += f"  {rate:,.0f} rec/s" if rate is not None else "  - rec/s"
            text += f"  ETA {_seconds(eta)}" if eta is not None else "  ETA -"
            return text + f"  elapsed {elapsed}"
        if running.state == "Processing":
            return f"Processing for {_seconds(now - running.since)}  elapsed {elapsed}"
        if running.state == "Committing":
            doing = "writing the CSV" if running.fmt == "csv" else "placing the export"
            return f"Committing, {doing}  elapsed {elapsed}"
        return f"{running.state}  elapsed {elapsed}"


def progress_for(stream: TextIO | None = None, *, quiet: bool, verbose: bool) -> Progress:
    """The display a run gets: live lines on a terminal, plain lines with -v, else none."""
    stream = stream or sys.stderr
    if quiet:
        return Progress()
    if verbose:
        return EventLines(stream)
    if stream.isatty():
        return LiveDisplay(stream)
    return Progress()

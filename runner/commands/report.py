"""`segrun report RUN_DIR`: (re)build a run directory's report.html."""

from __future__ import annotations

from pathlib import Path

import click

from runner import exitcodes
from runner.errors import SegrunError
from runner.records.html import write_html_report
from runner.records.timeline import TranscriptUnreadable


@click.command("report", epilog=exitcodes.HELP)
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def command(run_dir: Path) -> None:
    """Build RUN_DIR/report.html from its report.json and transcript.har.

    One self-contained file (no script, no external resource): the run's outcome,
    a table of its jobs, each job's calls on a timeline with every retry and wait,
    the errors with what to do next, and how to resume a run that did not finish.
    `segrun run` writes it at the end of every run; this rebuilds it.
    """
    if not (run_dir / "report.json").is_file():
        raise SegrunError(f"{run_dir}: no report.json there; is it a segrun run directory?")
    try:
        path = write_html_report(run_dir)
    except TranscriptUnreadable as e:  # names transcript.har and the line
        raise SegrunError(str(e)) from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise SegrunError(f"{run_dir}/report.json is not a report segrun wrote ({e})") from None
    except OSError as e:
        raise SegrunError(f"{run_dir}: cannot build report.html: {e.strerror or e}") from None
    click.echo(str(path))

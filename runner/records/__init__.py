"""What a run leaves behind: transcripts, the run report and JUnit XML.

Recorders know requests' objects and the report's dataclasses, nothing of
specs or YAML.
"""

from runner.records.redact import REDACTED, Redactor

__all__ = ["REDACTED", "Redactor", "Transcript"]


def __getattr__(name: str) -> object:
    # Transcript needs requests; the redactor and the sink must not (validate
    # prints through the sink and never sends a request).
    if name == "Transcript":
        from runner.records.transcript import Transcript

        return Transcript
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

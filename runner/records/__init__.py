"""What a run leaves behind: transcripts, the run report and JUnit XML.

Recorders know requests' objects and the report's dataclasses, nothing of
specs or YAML.
"""

from runner.records.redact import REDACTED, Redactor
from runner.records.transcript import Transcript

__all__ = ["REDACTED", "Redactor", "Transcript"]

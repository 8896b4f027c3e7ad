"""What a run leaves behind: transcripts, HAR, the run report, JUnit XML and report.html.

Recorders know requests' objects and the report's dataclasses, nothing of specs or YAML.
"""

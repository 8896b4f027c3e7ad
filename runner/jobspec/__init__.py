"""YAML text to a validated `Spec`: loading with source positions, the schema's
rules, diagnostics (machine and human forms) and endpoint map files.

Knows nothing of HTTP, exports or the run.
"""

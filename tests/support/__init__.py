"""What the tests share: the real `segrun` as a child process (processes.py), specs
(specs.py) and runs (runs.py), one scripted fake export server (fake_server.py), the
leak scan (leaks.py), signed calls to a sandbox (sandbox_calls.py), the recorder's
attempt (recording.py) and the spec fuzzer (spec_fuzzer.py).

Imported as `tests.support`: the repository's root is on sys.path (pytest's
`pythonpath` option), so a helper has one name wherever it is used.
"""

from pathlib import Path

#: the repository's root
ROOT = Path(__file__).resolve().parents[2]

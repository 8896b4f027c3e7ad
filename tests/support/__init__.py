"""What the tests share: the real `segrun` as a child process (processes.py), specs
(specs.py) and runs (runs.py), one scripted fake export server (fake_server.py), the
leak scan (leaks.py), signed calls to a sandbox (sandbox_calls.py), the recorder's
attempt (recording.py) and the spec fuzzer (spec_fuzzer.py).

Imported as `tests.support`: the repository's root is on sys.path (pytest's
`pythonpath` option), so a helper has one name wherever it is used.
"""

from pathlib import Path

import pytest

#: the repository's root
ROOT = Path(__file__).resolve().parents[2]

#: a test that measures memory or time (a peak RSS, arrivals at a server in any
#: second): the tests so marked run one after another on one worker, so no
#: measurement is taken beside another's peak of memory or of CPU
MEASURED = pytest.mark.xdist_group("measured")

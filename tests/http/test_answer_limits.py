"""An answer too big or too deep to read is refused, naming the call, in bounded
memory: the job fails, never the process."""

from __future__ import annotations

import pytest

from tests.support import MEASURED
from tests.support.fake_server import LONG_SECRET
from tests.support.processes import assert_well_behaved, run_segrun
from tests.support.specs import spec_text


@MEASURED
@pytest.mark.parametrize("scenario", ["huge", "huge-chunked", "huge-declared"])
def test_a_500_mb_answer_is_refused_in_bounded_memory(tmp_path, fake_server, scenario):
    outcome = run_segrun(tmp_path, spec_text(fake_server.url(scenario)), LONG_SECRET)
    assert outcome.code == 1, outcome.stderr
    job = outcome.report()["jobs"][0]
    assert "over the cap" in job["error"], job
    assert_well_behaved(outcome, fake_server)  # peak memory under 250 MiB among the rest


@pytest.mark.parametrize("scenario", ["deep", "deep-error"])
def test_json_nested_200000_deep_fails_the_job_naming_the_call(tmp_path, fake_server, scenario):
    outcome = run_segrun(tmp_path, spec_text(fake_server.url(scenario)), LONG_SECRET)
    assert outcome.code == 1, outcome.stderr
    assert_well_behaved(outcome, fake_server)
    error = outcome.report()["jobs"][0]["error"]
    if scenario == "deep":
        assert error.startswith("Status:") and "nested too deeply" in error, error
    else:
        assert error.startswith("initiate answered HTTP 400"), error

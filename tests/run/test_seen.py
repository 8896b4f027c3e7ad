"""The ProfileId table (runner/run/seen.py): no repeat (same value, same type) may pass
unseen, whichever way the ids come (ascending, needing no table at all, then not,
then ascending again), whatever they are (ids sharing a hash, a 5,000-digit number,
a lone surrogate), and after a resume rebuilds the table from the part file."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.run.seen import SeenIds
from tests.support.fake_server import envelope, serving_pages
from tests.support.processes import segrun_argv, segrun_environ
from tests.support.runs import export_by_cli
from tests.support.specs import one_job, write_spec


def feed(pages: list[list]) -> tuple[list[list[int]], SeenIds]:
    """Each page's suspected repeats, with `reread` giving back what was added."""
    added: list = []
    seen = SeenIds(expected=sum(map(len, pages)), reread=lambda: iter(list(added)))
    found = []
    for page in pages:
        found.append(seen.add_all(page))
        added.extend(page)
    return found, seen


def repeats(pages: list[list]) -> list[list[int]]:
    """The truth: indexes whose id (same value, same type) came before; no id
    (None) is never a repeat."""
    before: set = set()
    truth = []
    for page in pages:
        here = []
        for index, profile_id in enumerate(page):
            key = (type(profile_id), profile_id)
            if profile_id is not None and key in before:
                here.append(index)
            before.add(key)
        truth.append(here)
    return truth


def test_ascending_ids_need_no_table():
    found, seen = feed([list(range(1, 1001)), list(range(1001, 2001)), [2500, 10**30]])
    assert found == [[], [], []] and len(seen) == 2002
    assert len(seen._table) == 0  # no memory spent


def test_a_repeat_after_ascending_pages_is_caught():
    found, _ = feed([[1, 2, 3], [4, 5, 6], [7, 2, 8]])
    assert found == [[], [], [1]]


def test_a_page_that_starts_at_or_below_the_last_id_is_checked_against_all():
    found, _ = feed([[1, 2, 3], [3, 4]])
    assert found == [[], [0]]
    found, _ = feed([[10, 20], [15, 30], [20]])
    assert found == [[], [], [0]]


def test_a_repeat_inside_one_page_is_caught():
    assert feed([[1, 2, 2, 3]])[0] == [[2]]
    assert feed([[5, 6], [7, 7]])[0] == [[], [1]]


def test_other_kinds_of_id_leave_the_ascending_path():
    found = feed([[1, 2], ["3", "1"], [True, 1]])[0]
    assert found[:2] == [[], [1]]  # "1" is suspected (same text as 1); the caller compares types
    assert 1 in found[2]
    assert feed([[1, 2], [True]])[0] == [[], []]  # True is not the ProfileId 1
    assert feed([[1, 2], [None, None, 3]])[0] == [[], []]  # no id is no repeat


ids = st.one_of(st.integers(-5, 40), st.sampled_from(["1", "a", True, False, None, 2**64]))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(ids, max_size=8),
            st.lists(st.integers(0, 200), max_size=8, unique=True).map(sorted),
        ),
        max_size=8,
    )
)
def test_no_repeat_is_missed(pages):
    found, _ = feed(pages)
    for got, want in zip(found, repeats(pages), strict=True):
        assert set(want) <= set(got)  # a fingerprint match is only a suspicion: extra is fine


# -- ids a server chose so their fingerprints collide -------------------------------------
M = (1 << 61) - 1  # hash(n) == hash(n + M) for every int n >= 0: distinct ids, one fingerprint
HALF = 20_000


def _colliding_id(n: int) -> int:
    return n if n <= HALF else (n - HALF) + M  # the second half collides with the first


def _colliding_ids_page(offset: int, limit: int):
    total = 2 * HALF
    last = min(offset + limit - 1, total)
    records = [b'{"ProfileId":%d}' % _colliding_id(n) for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


def test_distinct_ids_sharing_a_hash_do_not_stall_the_export(tmp_path):
    """Python's hash of an int is not randomised (hash(n) == n mod 2**61-1), so a
    server can send distinct ids that share every fingerprint bit, and each such
    suspicion is confirmed by reading the whole part file again. 40,000 distinct
    integer ids (the largest, 2**61+19,999, a plain int64) whose second half each
    share hash() with one of the first: the export of 40,000 small records (about a
    second) never finished in 20 s (3 s when the ids do not share a hash)."""
    total = 2 * HALF
    assert len({_colliding_id(n) for n in range(1, total + 1)}) == total
    with serving_pages(_colliding_ids_page, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(1000))
        try:
            done = subprocess.run(
                [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "--quiet"],
                capture_output=True,
                text=True,
                timeout=20,
                env=segrun_environ(),
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the export of 40,000 records did not finish within 20 s")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "exports" / "one.jsonl").read_bytes().count(b"\n") == total


# -- a repeat of an id that is not a plain value ----------------------------------------------
HUGE = b"7" * 5000


def _huge_id_twice(offset: int, limit: int):
    last = min(offset + limit - 1, 4)
    records = [
        b'{"ProfileId":' + (HUGE if n in (2, 3) else b"%d" % n) + b"}"
        for n in range(offset, last + 1)
    ]
    return 200, envelope(records, offset, limit, 4, last < 4), {}


def test_the_same_huge_profile_id_twice_fails_the_export(tmp_path):
    """A ProfileId of more than 4,300 digits is passed through (as HugeNumber), and
    the table once skipped any id whose type is not a JSON scalar, HugeNumber too: a
    server sending the very same 5,000-digit ProfileId twice got both exported."""
    done, lines = export_by_cli(tmp_path, _huge_id_twice, 4, 2)
    assert lines.count(b'{"ProfileId":' + HUGE + b"}") < 2, (
        f"rc={done.returncode}: the 5,000-digit ProfileId was exported twice"
    )
    assert done.returncode != 0


LONE_SURROGATE = b'{"ProfileId":"\xed\xa0\x80\\udc00"}'


def _lone_surrogate_twice(offset: int, limit: int):
    # the same record on both pages: a server serving the same records at every offset
    return 200, envelope([LONE_SURROGATE], offset, limit, 2, offset < 2), {}


def test_the_same_lone_surrogate_profile_id_twice_fails_the_export(tmp_path):
    """A ProfileId holding a lone high surrogate sent raw (ED A0 80) followed by the
    escape \\udc00 is, to the page reader, two lone code units; the writer escapes
    the raw one, so the JSONL line read back held another id (U+10000), and a repeat
    of it was never confirmed against the part file: both records were exported."""
    done, lines = export_by_cli(tmp_path, _lone_surrogate_twice, 2, 1)
    assert len(lines) < 2, f"rc={done.returncode}: the same ProfileId exported twice: {lines}"
    assert done.returncode != 0


# -- a resume rebuilds the table from the part file -------------------------------------------
RESUMED = 40
FAIL_AT = 21  # offset whose page is refused (400): the job fails with 20 records durable


class RefusingFrom:
    """Pages of RESUMED records, refused (400) from FAIL_AT on while `refusing`;
    `ids` turns a record's number into its ProfileId."""

    def __init__(self, ids=lambda n: n) -> None:
        self.ids = ids
        self.refusing = True

    def __call__(self, offset: int, limit: int):
        if offset >= FAIL_AT and self.refusing:
            return 400, b'{"Message": "no"}', {}
        last = min(offset + limit - 1, RESUMED)
        records = [b'{"ProfileId":%d}' % self.ids(n) for n in range(offset, last + 1)]
        return 200, envelope(records, offset, limit, RESUMED, last < RESUMED), {}


def _segrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*segrun_argv(), *args], capture_output=True, text=True, timeout=120, env=segrun_environ()
    )


def _failed_run(tmp_path, base_url):
    spec = write_spec(tmp_path, base_url, one_job(10))
    run_dir = tmp_path / "run"
    first = _segrun("run", str(spec), "--out", str(run_dir), "--quiet")
    assert first.returncode == 1, first.stderr
    checkpoint = json.loads((run_dir / "checkpoints" / "one.json").read_text())
    assert checkpoint["records"] == 20
    return spec, run_dir, checkpoint


def _rewrite(run_dir, checkpoint, lines: bytes, records: int):
    part = run_dir / "exports" / "one.jsonl.part"
    part.write_bytes(lines)
    checkpoint.update(records=records, part_bytes=len(lines), next_offset=records + 1)
    (run_dir / "checkpoints" / "one.json").write_text(json.dumps(checkpoint))


@pytest.mark.slow
def test_an_export_past_two_million_records_resumes(tmp_path):
    """The table is sized min(max(RowCount, records), MAX_EXPECTED=2,000,000) on resume
    and gets its `reread` only after the part file was read: a resumed export holding
    more than 2,097,152 records (what a run segrun wrote leaves, shown here by writing
    the same part file and checkpoint directly) once ended 'SeenIds outgrew its table
    and has no way to reread its ids', exit 70. 2.1 million records, ~25 s."""
    with serving_pages(RefusingFrom(), RESUMED) as (base_url, _):
        spec, run_dir, checkpoint = _failed_run(tmp_path, base_url)
        n = 2_100_000
        lines = b"".join(b'{"ProfileId":%d}\n' % i for i in range(1, n + 1))
        _rewrite(run_dir, checkpoint, lines, n)
        again = _segrun("run", str(spec), "--resume", str(run_dir), "--quiet")
    assert again.returncode != 70, again.stderr[-2000:]
    assert "Traceback" not in again.stderr


def test_a_part_file_with_more_lines_than_its_checkpoint_is_refused_not_a_crash(tmp_path):
    """A part file whose first part_bytes hold more records than the checkpoint says
    (edited, or another file put in its place) must be 'does not match its checkpoint;
    re-initiated', never exit 70: the table sized for the checkpoint's count overflows
    first, and its RuntimeError is not caught."""
    with serving_pages(RefusingFrom(), RESUMED) as (base_url, _):
        spec, run_dir, checkpoint = _failed_run(tmp_path, base_url)
        size = checkpoint["part_bytes"]
        part = run_dir / "exports" / "one.jsonl.part"
        assert part.stat().st_size == size
        many = b"".join(b'{"ProfileId":%d}\n' % i for i in range(1, 6000))  # > 2048 ids
        _rewrite(run_dir, checkpoint, many, 20)  # the checkpoint still says 20 records
        checkpoint_path = run_dir / "checkpoints" / "one.json"
        fixed = json.loads(checkpoint_path.read_text())
        fixed["part_bytes"] = len(many)
        checkpoint_path.write_text(json.dumps(fixed))
        again = _segrun("run", str(spec), "--resume", str(run_dir), "--quiet")
    assert again.returncode != 70, again.stderr[-2000:]
    assert "Traceback" not in again.stderr


def test_resume_does_not_call_distinct_ids_that_share_a_fingerprint_a_repeat(tmp_path):
    """Records 11-20 have ids 1+M..10+M: distinct from 1..10, but the same hash. The
    run confirms each suspicion against the records and goes on; a resume reading
    the part file back once failed the job: 'repeats ProfileId 2305843009213693952'."""
    pages = RefusingFrom(ids=lambda n: n if n <= 10 else n - 10 + M)
    with serving_pages(pages, RESUMED) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(10))
        run_dir = tmp_path / "run"
        first = _segrun("run", str(spec), "--out", str(run_dir), "--quiet")
        assert first.returncode == 1, first.stderr
        report = json.loads((run_dir / "report.json").read_text())
        assert "400" in report["jobs"][0]["error"], report["jobs"][0]["error"]  # not a repeat
        pages.refusing = False  # the server now serves the rest
        again = _segrun("run", str(spec), "--resume", str(run_dir), "--quiet")
    report = json.loads((run_dir / "report.json").read_text())
    assert again.returncode == 0, report["jobs"][0]["error"]

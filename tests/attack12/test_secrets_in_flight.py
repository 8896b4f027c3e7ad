"""Secrets with pages and jobs in flight: a server echoing the credentials in the
answers of pages in flight (503s retried, a 400 that fails the job, headers and
reason phrases of good pages) leaks them nowhere."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hostile"))
from hostile_server import (  # noqa: E402
    FOUR_CHAR_SECRET,
    LONG_SECRET,
    Handler,
    HostileServer,
    leaks,
    run_segrun,
    spec_text,
)

TOTAL = 60


def _paged_echo(self, call: str) -> None:
    echo, line = self._echo(), self._echo_line()
    if call != "retrieve":
        if call == "initiate":  # a token per job: each job's Retrieve path is its own
            group = urlsplit(self.path).path.rstrip("/").rpartition("/")[2]
            self._send(200, {"AccessToken": 4000 + int(group.removeprefix("Group"))})
        elif call == "status":
            self._send(200, {"Status": "Complete", "RowCount": TOTAL, "Note": echo})
        else:
            self._normal(call)
        return
    query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
    offset, limit = int(query["offset"]), int(query["limit"])
    key = (urlsplit(self.path).path, offset)  # the path holds the job's own token
    with self.server.lock:
        seen = self.server.__dict__.setdefault("a12_seen", set())
        first = key not in seen
    if offset == 41:
        self._send(
            400,
            {"Message": f"bad offset: {echo}"},
            reason=f"Bad {line}",
            headers=[("X-Echo", line)],
        )
        return
    if first and offset % 20 == 1:
        self._send(
            503,
            {"Message": f"busy: {echo}"},
            reason=f"Busy {line}",
            headers=[("X-Echo", line), ("Retry-After", "0")],
        )
        with self.server.lock:
            seen.add(key)
        return
    last = min(offset + limit - 1, TOTAL)
    records = [{"ProfileId": f"P{n}"} for n in range(offset, last + 1)]
    body = {
        "Count": len(records),
        "HasMore": last < TOTAL,
        "Limit": limit,
        "Offset": offset,
        "TotalResults": TOTAL,
        "UserProfilePreferences": records,
        "Echo": echo,
    }
    self._send(200, body, reason=f"OK {line}", headers=[("X-Echo", line)])


Handler.s_paged_echo = _paged_echo


@pytest.fixture
def hostile():
    server = HostileServer([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("secret", [LONG_SECRET, FOUR_CHAR_SECRET], ids=["long", "four"])
def test_echoes_from_pages_and_jobs_in_flight_are_found_nowhere(tmp_path, hostile, secret):
    hostile.secrets = [secret]
    jobs = "".join(
        f"- name: j{i}\n  segment_group: Group{i}\n  page_size: 5\n  concurrency: 8\n"
        for i in range(3)
    )
    outcome = run_segrun(
        tmp_path,
        spec_text(hostile.url("paged-echo"), jobs=jobs),
        secret,
        "-v",
        "--jobs",
        "3",
        "--transcript-bodies",
        "full",
    )
    assert outcome.code == 1, outcome.stderr
    assert len(hostile.authorizations) > 30
    signatures = [
        a.rpartition("Signature=")[2] for a in hostile.authorizations if "Signature=" in a
    ]
    found = [
        hit
        for s in [secret, *signatures]
        for hit in leaks(s, [outcome.run_dir, outcome.state_dir], [outcome.stdout, outcome.stderr])
    ]
    assert not found, found
    report = json.loads((outcome.run_dir / "report.json").read_text())
    assert [j["name"] for j in report["jobs"]] == ["j0", "j1", "j2"]
    assert all(
        "offset 41" in (j["error"] or "") or "400" in (j["error"] or "") for j in report["jobs"]
    ), [j["error"] for j in report["jobs"]]
    for i in range(3):
        part = outcome.run_dir / "exports" / f"j{i}.jsonl.part"
        lines = part.read_bytes().splitlines()
        assert lines == [json.dumps({"ProfileId": f"P{n}"}).encode() for n in range(1, 41)]

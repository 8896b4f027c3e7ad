"""One export's life: Processing, then Complete (or Failed/Error), then Retrieved
or Expired, and the pages it serves on the way.

The result set is computed once, in a background thread, against a snapshot of
the touched Edited dates: an export is a snapshot, later touches do not move it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial

from runner.sandbox.datafile import SegmentGroup
from runner.sandbox.faults import ExportFaults
from runner.sandbox.pages import Pages, page_text
from runner.sandbox.profiles import Profiles
from runner.sandbox.query import ExportQuery
from runner.sandbox.replies import ApiError
from runner.sandbox.selection import Selection, select
from runner.sandbox.workers import PageWorkers

PROCESSING, COMPLETE, RETRIEVED, EXPIRED, ERROR, FAILED = (
    "Processing",
    "Complete",
    "Retrieved",
    "Expired",
    "Error",
    "Failed",
)


@dataclass
class Export:
    token: int
    client_id: str
    user_id: str
    group: SegmentGroup
    query: ExportQuery
    created: float
    ready_at: float
    expires_at: float
    faults: ExportFaults
    touched: Mapping[int, int]  # the snapshot this export sees (never changed in place)
    selection: Selection | None = None
    row_count: int | None = None
    byte_count: int | None = None
    retrieves: int = 0
    kept_alive: bool = False
    finished: str | None = None  # RETRIEVED or EXPIRED once the token is done
    kept_files: bool | None = None
    crashed: bool = False  # the background computation failed: the export ends Error
    _delivered: list[list[int]] = field(default_factory=list)  # merged [start, stop)
    _pages: Pages | None = None  # made at the first Retrieve, dropped when the token is done
    lock: threading.Lock = field(default_factory=threading.Lock)  # brief: never while building

    @property
    def failed(self) -> bool:
        return self.group.fails_for(self.user_id)

    def status(self, now: float) -> str:
        if self.finished:
            return self.finished
        if now >= self.expires_at:
            return self._finish(EXPIRED)
        if now < self.ready_at or (self.selection is None and not self._ends_early()):
            return PROCESSING
        if self.failed:
            return FAILED
        if self.faults.error or self.crashed:
            return ERROR
        if self.faults.expire_after is not None and self.retrieves >= self.faults.expire_after:
            return self._finish(EXPIRED)
        return COMPLETE

    def _ends_early(self) -> bool:
        return self.failed or self.faults.error or self.crashed

    def _finish(self, status: str) -> str:
        """Done for good: the result index goes, only the counts stay."""
        self.finished = status
        self.selection = None
        if self._pages is not None:
            self._pages.clear()
            self._pages = None
        return status

    def compute(self, profiles: Profiles) -> None:
        if self._ends_early():
            return
        try:
            selection = select(profiles, self.group.criteria, self.query, self.touched)
        except Exception:  # a sandbox bug must not leave an export Processing forever
            self.crashed = True
            raise
        self.row_count, self.byte_count = len(selection.index), selection.byte_count
        self.selection = selection

    def status_body(self, now: float) -> dict:
        status = self.status(now)
        known = status in (COMPLETE, RETRIEVED) and self.row_count is not None
        return {
            "AccessToken": self.token,
            "Status": status,
            "RowCount": self.row_count if known else None,
            "ByteCount": self.byte_count if known else None,
        }

    # -- retrieve and commit ---------------------------------------------------------

    def check_ready(self, now: float) -> Selection:
        status = self.status(now)
        if status == COMPLETE and self.selection is not None:
            return self.selection
        if status == PROCESSING:
            # The docs' 503: "a temporary condition ... delay your request".
            raise ApiError(
                503, f"Export {self.token} is still Processing; poll its Status until Complete"
            )
        if status == FAILED:
            raise ApiError(403, f"User {self.user_id} may not export {self.group.name!r}")
        raise ApiError(404, f"Access token {self.token} is no longer valid (status {status})")

    def page(
        self,
        profiles: Profiles,
        offset: int,
        limit: int,
        keep_alive: bool,
        now: float,
        executor: Executor,
        builders: threading.Semaphore,
        workers: PageWorkers | None = None,
    ) -> bytes:
        """One page. The export's lock is held only to check and to record the
        delivery, never while the page is built, so concurrent readers of one
        export are served side by side (`pages.py`)."""
        with self.lock:
            selection = self.check_ready(now)
            total = len(selection.index)
            pages = self._pages
            if pages is None:
                build = partial(page_text, profiles, selection, self.touched, workers, builders)
                pages = self._pages = Pages(build, total)
        body = pages.get(offset, limit, executor)
        start, stop = min(offset - 1, total), min(offset - 1 + limit, total)
        with self.lock:
            self.retrieves += 1
            self.kept_alive |= keep_alive
            covered = self._deliver(start, stop, total)
            if covered and not keep_alive and not self.finished:
                self._finish(RETRIEVED)
        return body

    def _deliver(self, start: int, stop: int, total: int) -> bool:
        """Record [start, stop) as read; True once every record has been read."""
        spans = sorted([*self._delivered, [start, stop]])
        merged: list[list[int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self._delivered = merged
        return total == 0 or (merged[0][0] == 0 and merged[0][1] >= total)

    def commit(self, keep_files: bool, now: float) -> None:
        with self.lock:
            self.check_ready(now)
            if not self.kept_alive:
                raise ApiError(
                    400,
                    "Commit is only valid after a Retrieve with keepAlive=true; without it "
                    "the token expires by itself once every record was retrieved",
                )
            self.kept_files = keep_files
            self._finish(RETRIEVED)

"""The four calls of the export API, on parsed inputs; HTTP is `server.py`'s job."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

from runner.apifacts import api
from runner.sandbox.callback import post_status
from runner.sandbox.datafile import SandboxData
from runner.sandbox.exports import Export
from runner.sandbox.faults import Faults
from runner.sandbox.pages import BUILDERS
from runner.sandbox.profiles import Profiles
from runner.sandbox.query import BodyError, parse_body
from runner.sandbox.replies import ApiError, Reply, json_reply
from runner.sandbox.workers import PageWorkers

_TRUE, _FALSE = ("true", "1"), ("false", "0")
MAX_OFFSET = 2**31 - 1  # DECISION: a 32-bit position, as a .NET service would take


class ExportService:
    def __init__(
        self,
        data: SandboxData,
        profiles: Profiles,
        touched: Callable[[], Mapping[int, int]],
        faults: Faults,
        clock: Callable[[], float],
        processing_seconds: float,
        token_lifetime_seconds: float,
        seed: int,
        workers: PageWorkers | None = None,
    ) -> None:
        self.data = data
        self.profiles = profiles
        self.touched = touched
        self.faults = faults
        self.clock = clock
        self.processing_seconds = processing_seconds
        self.token_lifetime_seconds = token_lifetime_seconds
        self.exports: dict[int, Export] = {}
        self._lock = threading.Lock()
        self._tokens = random.Random(seed)
        self._pages = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-page")
        #: page workers, when the sandbox command started them (runner/sandbox/workers.py)
        self.workers = workers
        self._builders = threading.BoundedSemaphore(BUILDERS)

    def close(self) -> None:
        self._pages.shutdown(wait=False, cancel_futures=True)

    # -- the calls -------------------------------------------------------------------

    def initiate(self, client_id: str, user_id: str, group_name: str, body: bytes) -> Reply:
        self._check_client(client_id)
        group = self.data.segment_groups.get(group_name)
        if group is None:
            raise ApiError(404, f"Segment group {group_name!r} was not found")
        try:
            query = parse_body(body)
        except BodyError as e:
            raise ApiError(e.status, str(e)) from None
        if not group.permits(user_id):
            raise ApiError(403, f"User {user_id} may not export segment group {group_name!r}")
        now = self.clock()
        with self._lock:
            token = self._new_token()
            export = Export(
                token=token,
                client_id=client_id,
                user_id=user_id,
                group=group,
                query=query,
                created=now,
                ready_at=now + self.processing_seconds,
                expires_at=now + self.token_lifetime_seconds,
                faults=self.faults.export_faults(),
                touched=self.touched(),  # replaced, never mutated: a free snapshot
            )
            self.exports[token] = export
        threading.Thread(
            target=self._compute, args=(export,), name=f"export-{token}", daemon=True
        ).start()
        return json_reply(200, {"AccessToken": token})

    def status(self, client_id: str, token: str) -> Reply:
        export = self._export(client_id, token)
        return json_reply(200, export.status_body(self.clock()))

    def retrieve(self, client_id: str, token: str, query: str) -> Reply:
        export = self._export(client_id, token)
        params = _query(query)
        facts = api.facts()["retrieve"]
        limit = _integer(params, "limit", facts["default_limit"])
        offset = _integer(params, "offset", facts["first_offset"])
        if not 1 <= limit <= facts["max_limit"]:
            raise ApiError(400, f"limit must be between 1 and {facts['max_limit']}, not {limit}")
        if not facts["first_offset"] <= offset <= MAX_OFFSET:
            raise ApiError(400, f"offset is a 1-based record position up to {MAX_OFFSET}")
        keep_alive = _boolean(params, "keepAlive")
        body = export.page(
            self.profiles,
            offset,
            limit,
            keep_alive,
            self.clock(),
            self._pages,
            self._builders,
            self.workers,
        )
        return Reply(200, body, {"Content-Type": "application/json; charset=utf-8"})

    def commit(self, client_id: str, token: str, query: str) -> Reply:
        export = self._export(client_id, token)
        keep_files = _boolean(_query(query), "keepFiles")
        export.commit(keep_files, self.clock())
        return Reply(200)

    # -- helpers -----------------------------------------------------------------------

    def _compute(self, export: Export) -> None:
        """The export's work in the background; then its CallbackURL, if any, gets
        the status once the export is done (Complete, or ended otherwise)."""
        export.compute(self.profiles)
        url = export.query.callback_url
        if not url:
            return
        give_up = time.monotonic() + self.processing_seconds + 600  # a frozen test clock
        while export.status(self.clock()) == "Processing" and time.monotonic() < give_up:
            time.sleep(0.02)
        post_status(url, export.status_body(self.clock()), self.faults.counters)

    def _check_client(self, client_id: str) -> None:
        if client_id != self.data.client_id:
            raise ApiError(404, f"Client {client_id!r} was not found")

    def _export(self, client_id: str, token: str) -> Export:
        self._check_client(client_id)
        export = self.exports.get(int(token)) if token.isdigit() else None
        if export is None or export.client_id != client_id:
            raise ApiError(404, f"Access token {token!r} was not found")
        return export

    def _new_token(self) -> int:
        while True:
            token = self._tokens.randrange(100_000_000, 2_000_000_000)
            if token not in self.exports:
                return token


def _query(query: str) -> dict[str, list[str]]:
    """The query's parameters; one without a name (`?=x`) is malformed: 400."""
    params = parse_qs(query, keep_blank_values=True)
    if "" in params:
        raise ApiError(400, "a query parameter has no name")
    return params


def _integer(params: dict[str, list[str]], name: str, default: int) -> int:
    values = params.get(name)
    if not values:
        return default
    text = values[-1].strip()
    if not text.lstrip("-").isascii() or not text.lstrip("-").isdigit() or len(text) > 100:
        raise ApiError(400, f"{name} must be a whole number, not {values[-1]!r}")
    return int(text)


def _boolean(params: dict[str, list[str]], name: str) -> bool:
    values = params.get(name)
    if not values:
        return False
    text = values[-1].strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ApiError(400, f"{name} must be true or false, not {values[-1]!r}")

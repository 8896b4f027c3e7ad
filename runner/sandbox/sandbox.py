"""The sandbox as one object: its data, its exports, its faults, its server.

`running_sandbox()` is what tests and the executor's `environment: sandbox` use;
`segrun sandbox` wraps the same object for people.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from runner.apifacts.api import Endpoint
from runner.apifacts.api import endpoints as api_endpoints
from runner.sandbox import lies, oracle
from runner.sandbox.authcheck import authenticate
from runner.sandbox.counters import Counters
from runner.sandbox.datafile import SandboxData, load_data
from runner.sandbox.demo import DEMO
from runner.sandbox.faults import FaultPlan, Faults
from runner.sandbox.latency import Delay, Latency, latency_of
from runner.sandbox.lies import LIES
from runner.sandbox.profiles import PROFILE_ID_BASE, Profiles, format_ms
from runner.sandbox.ratelimit import RateLimit
from runner.sandbox.replies import ApiError, Reply, json_reply
from runner.sandbox.routes import BASE_PATH, Route, resolve, routes
from runner.sandbox.server import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    SandboxHTTPServer,
)
from runner.sandbox.service import ExportService
from runner.sandbox.workers import PageWorkers

DEFAULT_PROFILES = 250
DEFAULT_TOKEN_LIFETIME = 3600.0
_MESSAGES = {
    429: "Too Many Requests",
    503: "The server is unable to handle your request due to a temporary condition. "
    "You must delay your request for some time before trying again.",
}


def _anchor_ms(clock: Callable[[], float]) -> int:
    """Midnight UTC of today: Edited dates lie in the two years before it, and the
    same seed gives the same records all day."""
    return int(clock() // 86_400) * 86_400_000


class Sandbox:
    """A local MyPreferences export API; `start()` serves it on a loopback port."""

    def __init__(
        self,
        *,
        profiles: int = DEFAULT_PROFILES,
        seed: int = 0,
        data: str | Path | SandboxData | None = None,
        faults: str | FaultPlan | None = None,
        rate_limit: float | None = None,
        processing_seconds: float = 0.0,
        token_lifetime_seconds: float = DEFAULT_TOKEN_LIFETIME,
        clock: Callable[[], float] = time.time,
        anchor_ms: int | None = None,
        endpoints: Mapping[str, Endpoint] | None = None,
        latency: float | str | Latency | None = None,
        jitter: float | str | None = None,
        workers: PageWorkers | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        """`latency`: every API answer waits this long (seconds, or text such as
        `"100ms:20ms"`), ± `jitter` seconds drawn uniformly, never below zero.
        A bad value raises `LatencyError` (a ValueError). `workers`: page
        workers to build pages in (runner/sandbox/workers.py), started by the
        caller before any thread; the caller closes them. `idle_timeout` and
        `max_connections` bound what clients can hold (runner/sandbox/server.py)."""
        if not 0 < idle_timeout <= 86_400:  # NaN too
            raise ValueError("idle_timeout must be more than 0 and at most 86400 seconds")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        #: the simulated network delay of every API answer (admin answers are not delayed)
        self.latency = latency_of(latency, jitter)
        self._delay = Delay(self.latency, seed)
        self.data = data if isinstance(data, SandboxData) else load_data(data)
        self.clock = clock
        anchor = _anchor_ms(clock) if anchor_ms is None else anchor_ms
        self.profiles = Profiles(seed, profiles, anchor)
        self.counters = Counters()
        plan = FaultPlan.parse(faults) if isinstance(faults, str) else faults
        self.faults = Faults(plan, self.counters)
        self.rate_limit = RateLimit(rate_limit) if rate_limit else None
        self._touched: dict[int, int] = {}
        self._touch_lock = threading.Lock()
        self.service = ExportService(
            self.data,
            self.profiles,
            lambda: self._touched,
            self.faults,
            clock,
            processing_seconds,
            token_lifetime_seconds,
            seed,
            workers,
        )
        #: the endpoint map served: specs/endpoints.yaml unless another is given
        self.endpoints = dict(endpoints or api_endpoints())
        self._routes = routes(self.endpoints)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- serving -----------------------------------------------------------------------

    def bind(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        """Open the listening socket (port 0: a free one); `base_url` then says where."""
        self._server = SandboxHTTPServer(
            (host, port),
            self.handle,
            self.clock,
            idle_timeout=self.idle_timeout,
            max_connections=self.max_connections,
        )
        return self

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        """Bind and serve in a background thread."""
        server = self.bind(host, port)._server
        assert server is not None
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the bound socket in this thread, until interrupted."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self.service.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.service.close()

    def open_connections(self) -> int:
        """Connections being served now (at most `max_connections`)."""
        return self._server.open_connections() if self._server is not None else 0

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not serving; call start() first")
        host, port = self._server.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}{BASE_PATH}"

    # -- the request pipeline ----------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, ip: str
    ) -> Reply:
        """faults -> authentication -> rate limit -> the call -> the latency. Faults
        come first, as a proxy or an overloaded front end would answer before the API
        does. The latency is slept here, in the request's own thread, holding no lock,
        so concurrent requests wait out their delays side by side. The admin
        endpoints are neither delayed nor counted in the peaks."""
        if path.startswith("/_sandbox/"):
            return self._answer(self._admin, method, path, body, ip)
        route, params, allowed = resolve(method, path, self._routes)
        peaks = self.counters.peaks
        peaks.arrive(params.get("clientId"))
        try:
            reply = self._answer(
                self._handle, method, route, params, allowed, path, query, headers, body
            )
            delay = self._delay.draw()
            if delay:
                time.sleep(delay)
        finally:
            peaks.depart()
        return reply

    def _answer(self, handler: Callable[..., Reply], *args: object) -> Reply:
        try:
            reply = handler(*args)
        except ApiError as e:
            reply = e.reply()
        self.counters.add("responses", str(reply.status))
        return reply

    def _handle(
        self,
        method: str,
        route: Route | None,
        params: dict[str, str],
        allowed: list[str],
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if route is None:
            if allowed:
                methods = ", ".join(allowed)
                raise ApiError(405, f"Use {methods} here", {"Allow": methods})
            # ASP.NET Web API's words for a route that does not exist
            raise ApiError(
                404, f"No HTTP resource was found that matches the request URI '{path}'."
            )
        call = route.endpoint.call
        self.counters.add("requests", call)
        fault = self.faults.request_fault(call)
        if fault in ("429", "503"):
            extra = {}
            if fault == "429" and self.faults.plan.retry_after is not None:
                extra["Retry-After"] = str(self.faults.plan.retry_after)
            raise ApiError(int(fault), _MESSAGES[int(fault)], extra)
        if fault == "drop":
            return Reply(0, transport="drop")
        if fault == "slow":
            time.sleep(self.faults.plan.slow_seconds)
        client_id = params["clientId"]
        now = dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc)
        user_id = authenticate(headers.get("authorization"), client_id, self.data.secrets, now)
        if self.rate_limit is not None:
            wait = self.rate_limit.take(client_id, self.clock())
            if wait is not None:
                self.counters.add("rate_limited", call)
                raise ApiError(429, _MESSAGES[429], {"Retry-After": str(wait)})
        try:
            reply = self._call(call, params, query, body, user_id)
        except ApiError as e:
            reply = e.reply()
        if fault == "truncate":
            reply.transport = "truncate"
        elif fault in LIES:
            reply = lies.tell(fault, reply)
        return reply

    def _call(self, call: str, params: dict, query: str, body: bytes, user_id: str) -> Reply:
        service, client_id = self.service, params["clientId"]
        if call == "initiate":
            return service.initiate(client_id, user_id, params["segmentGroupName"], body)
        if call == "status":
            return service.status(client_id, params["accessToken"])
        if call == "retrieve":
            return service.retrieve(client_id, params["accessToken"], query)
        return service.commit(client_id, params["accessToken"], query)

    def _admin(self, method: str, path: str, body: bytes, ip: str) -> Reply:
        if not ipaddress.ip_address(ip.split("%")[0]).is_loopback:
            raise ApiError(403, "The sandbox's admin endpoints answer loopback clients only")
        if path == "/_sandbox/touch" and method == "POST":
            try:
                ids = json.loads(body or b"{}").get("ProfileIds")
            except (ValueError, AttributeError):
                ids = None
            if not isinstance(ids, list) or not all(
                isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids
            ):
                raise ApiError(400, 'The body must be {"ProfileIds": [<ProfileId>, ...]}')
            try:
                stamp = self.touch_profiles(ids)
            except ValueError as e:
                raise ApiError(404, str(e)) from None
            return json_reply(200, {"Touched": len(ids), "EditedDate": stamp})
        if path == "/_sandbox/counters" and method == "GET":
            return json_reply(200, self.counters.snapshot())
        raise ApiError(404, f"No admin resource {method} {path}")

    # -- for tests and the executor --------------------------------------------------

    def touch_profiles(
        self, profile_ids: Iterable[str | int], when: dt.datetime | None = None
    ) -> str:
        """Set these profiles' Edited.Date (default now, millisecond precision).
        Exports already initiated keep their snapshot; later Initiates see it."""
        moment = when or dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc)
        ms = int(moment.timestamp() * 1000)
        indexes = [self._index(pid) for pid in profile_ids]
        # Replaced, not updated: exports hold the old dict as their snapshot.
        with self._touch_lock:
            self._touched = {**self._touched, **dict.fromkeys(indexes, ms)}
        return format_ms(ms)

    def _index(self, profile_id: str | int) -> int:
        index = int(profile_id) - PROFILE_ID_BASE if str(profile_id).isdigit() else -1
        if not 0 <= index < self.profiles.count:
            raise ValueError(f"no profile has ProfileId {profile_id!r}")
        return index

    def expected_records(
        self, segment_group: str, body: dict | None = None, user_id: str = DEMO.user_id
    ) -> list[dict]:
        """The brute-force oracle: what an export initiated now must return."""
        group = self.data.segment_groups[segment_group]
        return oracle.expected_records(self.profiles, group, body or {}, user_id, self._touched)

    def record(self, profile_id: str | int) -> dict:
        return self.profiles.record(self._index(profile_id), self._touched)

    def export_count(self) -> int:
        return len(self.service.exports)


@contextlib.contextmanager
def running_sandbox(**options: object) -> Iterator[Sandbox]:
    """A sandbox serving on a free 127.0.0.1 port for the `with` block.

    Takes Sandbox's keyword arguments (profiles, seed, data, faults, rate_limit,
    processing_seconds, token_lifetime_seconds, clock, anchor_ms, endpoints,
    latency, jitter, idle_timeout, max_connections): `running_sandbox(latency=0.1, jitter=0.02)` or
    `running_sandbox(latency="100ms:20ms")` delays every API answer. Startup does no work
    proportional to the number of profiles.
    """
    sandbox = Sandbox(**options).start()  # type: ignore[arg-type]
    try:
        yield sandbox
    finally:
        sandbox.stop()

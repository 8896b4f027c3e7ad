"""Which call a request path is, read from the endpoint map in specs/endpoints.yaml."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from runner.apifacts.api import Endpoint, endpoints

BASE_PATH = "/Profiles/v4/"


@dataclass(frozen=True)
class Route:
    endpoint: Endpoint
    pattern: re.Pattern

    def match(self, path: str) -> dict[str, str] | None:
        m = self.pattern.match(path)
        return {k: unquote(v) for k, v in m.groupdict().items()} if m else None


def _route(endpoint: Endpoint) -> Route:
    regex, rest = "", endpoint.path
    for name in endpoint.placeholders():
        before, _, rest = rest.partition("{" + name + "}")
        regex += re.escape(before) + f"(?P<{name}>[^/]+)"
    return Route(endpoint, re.compile("^" + re.escape(BASE_PATH) + regex + re.escape(rest) + "$"))


def routes(table_of: Mapping[str, Endpoint] | None = None) -> list[Route]:
    """Most literal text first, so `.../Export/Segment/{name}` wins over
    `.../Export/{accessToken}/Commit` for the path `.../Export/Segment/Commit`.
    `table_of`: another endpoint map to serve (default: specs/endpoints.yaml)."""
    table = [_route(e) for e in (table_of or endpoints()).values()]
    return sorted(table, key=lambda r: -len(re.sub(r"\{[^}]*\}", "", r.endpoint.path)))


def resolve(method: str, path: str, table: list[Route]) -> tuple[Route | None, dict, list[str]]:
    """(route, path parameters, methods the path allows) for a request."""
    allowed = []
    for route in table:
        params = route.match(path)
        if params is None:
            continue
        if route.endpoint.method == method:
            return route, params, []
        allowed.append(route.endpoint.method)
    return None, {}, allowed

"""What the sandbox answers: a status, a JSON body, headers, and how to send it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    transport: str | None = None  # "drop" or "truncate": a fault in how it is sent


class ApiError(Exception):
    """Any refusal; the body is always the documented `{"Message": ...}`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def reply(self) -> Reply:
        return json_reply(self.status, {"Message": self.message}, self.headers)


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), dict(headers or {}))

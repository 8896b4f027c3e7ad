"""What one request got back, read whole before anyone looks at it.

The client hands this to every reader (the executor, the OAuth signer, the -v
observer), never requests' `Response`: the body is read once, within the call's
deadline and size cap, and what it means (JSON, or a scanned Retrieve page) is
worked out at most once and shared, so the executor and the transcript read
the same scan of a page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import cast

from runner.apifacts.page import Page, PageNotJSON
from runner.apifacts.page import scan as scan_page
from runner.errors import JobFailure


class ResponseNotJSON(ValueError):
    """A body that cannot be parsed as JSON (or is nested absurdly deep)."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        #: why, when the content type alone does not say it
        self.detail = detail


class Answer:
    """One answer: its status, headers and body, and the body's meaning.

    Nothing here refers back to the connection or the request, so an answer
    held by a page in flight holds its bytes and nothing more.
    """

    def __init__(
        self,
        call: str,
        status: int,
        reason: str,
        headers: Mapping[str, str],
        body: bytes | bytearray,
    ) -> None:
        self.call = call
        self.status = status
        self.reason = reason
        #: case-insensitive, as the server sent them
        self.headers = headers
        #: the body as read (a bytearray, not a copy: a 10,000-record page is not held twice)
        self.body = body
        self._json: list[object] = []
        self._page: Page | None = None

    def json(self) -> object:
        """The body parsed as JSON, once. JSON nested deeper than Python's
        recursion limit (about 1,000 levels; real answers nest a handful) is
        refused with a clear ValueError, not a crash: the C decoder raises
        RecursionError cleanly, caught here."""
        if not self._json:
            try:
                self._json.append(json.loads(self.body))
            except RecursionError:
                why = "JSON nested too deeply (over ~1,000 levels)"
                raise ResponseNotJSON(why, why) from None
            except ValueError as e:
                raise ResponseNotJSON(str(e)[:200]) from None
        return self._json[0]

    @property
    def page(self) -> Page:
        """The body scanned as a Retrieve page, once (runner/apifacts/page.py):
        its envelope decoded, its records never decoded into Python objects.
        PageNotJSON when it is not JSON."""
        if self._page is None:
            # the bytearray as read, never a copy: scan only reads it
            self._page = scan_page(cast(bytes, self.body))
        return self._page

    # -- what the API documents, or the job fails ----------------------------------------
    def json_object(self) -> dict:
        """The body as the JSON object the API documents for this call."""
        try:
            body = self.json()
        except ResponseNotJSON as e:
            raise self._not_json(e.detail) from None
        if not isinstance(body, dict):
            raise JobFailure(
                "invalid_answer", f"{self._name}: expected a JSON object, got {type(body).__name__}"
            )
        return body

    def json_page(self) -> Page:
        """The body as a Retrieve page that is at least a JSON object (its fields
        are the executor's to check)."""
        try:
            page = self.page
        except PageNotJSON as e:
            raise self._not_json(e.detail) from None
        if page.top != "dict":
            raise JobFailure(
                "invalid_answer", f"{self._name}: expected a JSON object, got {page.top}"
            )
        return page

    @property
    def _name(self) -> str:
        return self.call.capitalize()  # "Retrieve", as the API's documentation names it

    def _not_json(self, detail: str | None) -> JobFailure:
        why = detail or self.headers.get("Content-Type", "no type")
        return JobFailure("invalid_answer", f"{self._name}: the response is not JSON ({why})")

    def __repr__(self) -> str:
        return f"<Answer {self.call} {self.status}, {len(self.body):,} bytes>"

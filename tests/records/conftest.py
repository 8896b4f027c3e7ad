"""Fixtures for the recorder tests: a real HTTP server on 127.0.0.1 and the
public schemas the files must validate against."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import requests
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT6

from runner.records.transcript import Transcript
from runner.redaction.redact import Redactor

SCHEMAS = Path(__file__).parent / "schemas"
SECRET = "s3cr3t-HMAC-key/with+odd=chars"
TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def records_page(n: int) -> bytes:
    """An export page shaped like `Retrieve`'s, about 600 bytes per record."""
    items = [
        {
            "ProfileId": f"P{i:08d}",
            "IsActive": True,
            "CustomerType": "Individual",
            "CustomerName": f"Customer number {i}",
            "DefaultLocale": "en-US",
            "Emails": [{"Address": f"user{i}@example.com", "Type": "Personal"}],
            "PhoneNumbers": [{"Number": f"+1555{i:07d}", "Type": "Mobile"}],
            "Addresses": [
                {"Line1": f"{i} Main Street", "City": "Springfield", "PostalCode": "12345"}
            ],
            "ProfilePreferences": [
                {"Code": "NEWSLETTER", "Value": "Y", "ModifiedDate": "2026-11-01T10:00:00.003Z"},
                {"Code": "SMS", "Value": "N", "ModifiedDate": "2026-11-01T10:00:00.007Z"},
            ],
        }
        for i in range(n)
    ]
    page = {
        "Count": n,
        "HasMore": False,
        "Limit": n,
        "Offset": 1,
        "TotalResults": n,
        "UserProfilePreferences": items,
    }
    return json.dumps(page).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every response waits out a delayed ACK

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json", **extra) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        body = self._body()
        if url.path.startswith("/echo"):
            # Echoes what it received, as a careless server or proxy might.
            echoed = {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "body": body.decode(),
            }
            self._send(
                200, json.dumps(echoed).encode(), X_Echo_Auth=self.headers.get("Authorization", "")
            )
        elif url.path == "/token":
            issued = {
                "access_token": TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "refresh-" + TOKEN,
            }
            self._send(200, json.dumps(issued).encode())
        elif url.path == "/page":
            n = int(query.get("n", ["10"])[0])
            self._send(200, records_page(n))
        elif url.path == "/status":
            status = {"AccessToken": 12345, "Status": "Complete", "RowCount": 3, "ByteCount": 999}
            self._send(200, json.dumps(status).encode())
        elif url.path == "/busy":
            self._send(503, b'{"Message": "delay your request for some time"}', Retry_After="1")
        elif url.path == "/drop":
            self.close_connection = True
            self.connection.shutdown(2)
        elif url.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"Count": 1, "UserProf')
            self.wfile.flush()
            self.close_connection = True
        elif url.path == "/slow":
            time.sleep(float(query.get("s", ["1"])[0]))
            self._send(200, b"{}")
        else:
            self._send(404, b'{"Message": null}')


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([SECRET])


@pytest.fixture
def transcript(tmp_path: Path, redactor: Redactor) -> Iterator[Transcript]:
    with Transcript(tmp_path, redactor, bodies="full") as t:
        yield t


Send = Callable[..., "requests.Response | None"]


def attempt(
    session: requests.Session,
    transcript: Transcript,
    method: str,
    url: str,
    *,
    job: str | None = "weekly",
    call: str | None = "retrieve",
    attempt_no: int = 1,
    timeout: float = 5,
    **kwargs: object,
) -> requests.Response | None:
    """What segrun's HTTP client does per attempt: send, read the body, record."""
    request = session.prepare_request(requests.Request(method, url, **kwargs))
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    response = error = None
    try:
        response = session.send(request, timeout=timeout)
        response.content  # noqa: B018 - the client reads the body before recording
    except requests.RequestException as e:
        error = e
    transcript.record(
        request,
        None if error else response,
        error=error,
        started=started,
        elapsed_s=time.perf_counter() - t0,
        job=job,
        call=call,
        attempt=attempt_no,
    )
    return None if error else response


@pytest.fixture
def send(session: requests.Session, transcript: Transcript) -> Send:
    def _send(method: str, url: str, **kwargs: object) -> requests.Response | None:
        return attempt(session, transcript, method, url, **kwargs)

    return _send


@pytest.fixture(scope="session")
def har_validator() -> jsonschema.Draft6Validator:
    resources = []
    for path in (SCHEMAS / "har-schema").glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"].rstrip("#"), Resource.from_contents(schema, DRAFT6)))
    registry = Registry().with_resources(resources)
    root = json.loads((SCHEMAS / "har-schema" / "har.json").read_text())
    # Without these the schema's `uri` and `date-time` formats go unchecked.
    pytest.importorskip("rfc3986_validator")
    pytest.importorskip("rfc3339_validator")
    return jsonschema.Draft6Validator(
        root, registry=registry, format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="session")
def junit_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))

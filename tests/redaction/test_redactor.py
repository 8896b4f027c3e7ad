"""Secrets never reach a file: planted everywhere over real HTTP, then searched for."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import quote, quote_plus

import pytest
import requests

from runner.records.transcript import Transcript
from runner.redaction.redact import REDACTED, URL_REDACTED, Redactor
from tests.support.recording import SECRET, TOKEN, attempt

CLIENT_SECRET = "cs_" + "7" * 61


def spellings(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [
        raw,
        quote(secret, safe="").encode(),
        quote_plus(secret, safe="").encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
    ]


def test_planted_secrets_occur_in_neither_transcript(tmp_path, session, server):
    redactor = Redactor([SECRET, CLIENT_SECRET])
    with Transcript(tmp_path, redactor, bodies="full") as t:
        # OAuth token call: client secret in the form body and a Basic header;
        # the issued token is not yet known to the redactor.
        attempt(
            session,
            t,
            "POST",
            f"{server}/token",
            data={"grant_type": "client_credentials", "client_secret": CLIENT_SECRET},
            auth=("client-id", CLIENT_SECRET),
            call="token",
        )
        redactor.add(TOKEN)  # what the client does once the token is known
        attempt(
            session,
            t,
            "POST",
            f"{server}/echo",
            params={"key": SECRET, "access_token": TOKEN},
            headers={"Authorization": f"Bearer {TOKEN}", "X-Debug": f"hmac={SECRET}"},
            json={"Note": SECRET, "client_secret": CLIENT_SECRET},
            call="initiate",
        )
        # The secret in a URL path, echoed back in the body and a response header.
        attempt(
            session,
            t,
            "GET",
            f"{server}/echo/{quote(SECRET, safe='')}",
            headers={"Authorization": f"PNAUTHINFO3-HMAC-SHA256 Credential=u/{SECRET}"},
        )
        # A failed attempt whose error text carries the URL.
        attempt(session, t, "GET", f"{server}/drop", params={"key": SECRET})
        # Base64 of the secret in a body.
        attempt(session, t, "POST", f"{server}/echo", data=base64.b64encode(SECRET.encode()))

    for path in (t.har_path, t.text_path):
        data = path.read_bytes()
        for secret in (SECRET, CLIENT_SECRET, TOKEN, "refresh-" + TOKEN):
            for form in spellings(secret):
                assert form not in data, (path.name, secret, form)
        assert REDACTED.encode() in data
        assert b"Basic " not in data

    har = json.loads(t.har_path.read_text())
    token_entry, echo_entry, *_ = har["log"]["entries"]
    issued = json.loads(token_entry["response"]["content"]["text"])
    assert issued == {
        "access_token": REDACTED,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": REDACTED,
    }
    headers = {h["name"]: h["value"] for h in echo_entry["request"]["headers"]}
    assert headers["Authorization"] == REDACTED
    assert headers["X-Debug"] == f"hmac={REDACTED}"
    assert {"name": "access_token", "value": REDACTED} in echo_entry["request"]["queryString"]
    assert echo_entry["request"]["url"].endswith(f"?key={URL_REDACTED}&access_token={URL_REDACTED}")
    assert har["log"]["entries"][3]["_error"].startswith("ConnectionError")


def test_secret_straddling_the_body_cap_is_still_removed(tmp_path, session, server):
    secret = "straddling-secret-value"
    body = "x" * 990 + secret
    with Transcript(tmp_path, Redactor([secret]), body_cap=1000, bodies="full") as t:
        attempt(session, t, "POST", f"{server}/echo", data=body)
    data = t.har_path.read_bytes() + t.text_path.read_bytes()
    assert secret[:10].encode() not in data


def test_token_cut_by_the_cap_leaves_no_half_token(tmp_path, session, server):
    with Transcript(tmp_path, Redactor(), body_cap=25, bodies="full") as t:
        attempt(session, t, "POST", f"{server}/token")
    content = json.loads(t.har_path.read_text())["log"]["entries"][0]["response"]["content"]
    assert content["text"].startswith('{"access_token": "<redac')
    assert TOKEN[:4] not in content["text"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"access_token":"abc"}', f'{{"access_token":"{REDACTED}"}}'),
        ('{"Access_Token" : "a\\"b"}', f'{{"Access_Token" : "{REDACTED}"}}'),
        ('{"id_token": "x", "n": 1}', f'{{"id_token": "{REDACTED}", "n": 1}}'),
        ("grant_type=x&client_secret=abc&z=1", f"grant_type=x&client_secret={REDACTED}&z=1"),
        ("client_secret=abc", f"client_secret={REDACTED}"),
        (
            '{"url": "/t?access_token=abc", "n": 1}',
            f'{{"url": "/t?access_token={REDACTED}", "n": 1}}',
        ),
        ('{"AccessToken": 12345}', '{"AccessToken": 12345}'),  # the export token is no secret
        ("nothing to see", "nothing to see"),
    ],
)
def test_body_fields(text, expected):
    assert Redactor().body(text) == expected


def test_short_secrets_are_scanned_too_and_headers_still_redacted():
    r = Redactor(["abc"])
    assert r.scan("abcdef abc") == f"{REDACTED}def {REDACTED}"
    assert r.header("authorization", "abc") == REDACTED
    assert r.header("Proxy-Authorization", "Basic xyz") == REDACTED
    assert r.header("Accept", "abc") == REDACTED
    assert r.header("Accept", "xyz") == "xyz"


def test_secrets_can_be_added_later_and_none_is_ignored():
    r = Redactor()
    assert r.scan("token-123456") == "token-123456"
    r.add("token-123456", None, "")
    assert r.scan("a token-123456 b") == f"a {REDACTED} b"
    assert r.url("http://h/p?t=token-123456&access_token=zz") == (
        f"http://h/p?t={URL_REDACTED}&access_token={URL_REDACTED}"
    )


def test_url_encoded_and_base64_forms_are_redacted():
    secret = "a/b+c=d e&f"
    r = Redactor([secret])
    for form in spellings(secret):
        assert r.scan(f"[{form.decode()}]") == f"[{REDACTED}]"


def test_transcript_sees_tokens_added_after_it_was_opened(tmp_path, server):
    redactor = Redactor()
    with Transcript(tmp_path, redactor, bodies="full") as t:
        request = requests.Request("GET", f"{server}/x", headers={"X-T": "late-token-1"}).prepare()
        redactor.add("late-token-1")
        t.record(
            request,
            None,
            error=requests.ConnectionError("late-token-1 refused"),
            started=dt.datetime.now(dt.timezone.utc),
            elapsed_s=0.0,
            job="j",
            call="c",
            attempt=1,
        )
    assert b"late-token-1" not in t.har_path.read_bytes() + t.text_path.read_bytes()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "Location",
            "https://app.example/cb#access_token=unregistered42&token_type=bearer",
            f"https://app.example/cb#access_token={REDACTED}&token_type=bearer",
        ),
        (
            "Location",
            "https://app.example/cb?next=%2Fcb%23access_token%3Dunregistered42%26x%3D1",
            f"https://app.example/cb?next=%2Fcb%23access_token%3D{REDACTED}%26x%3D1",
        ),
        (
            "Set-Cookie",
            "sid=s3ss10n; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly",
            f"sid={REDACTED}; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly",
        ),
        ("Cookie", "a=1; access_token=xyz", f"a={REDACTED}; access_token={REDACTED}"),
        ("WWW-Authenticate", 'Bearer realm="api", error="invalid_token"', None),
        ("X-Debug", "Bearer Zx9aB3kQ7pL2", f"Bearer {REDACTED}"),
        ("X-Debug", "sent Basic YWJjOmRlZg== to it", f"sent Basic {REDACTED} to it"),
        ("X-Debug", "basic information only", None),
        ("X-Token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", REDACTED),
        (
            "X-Auth",
            "PNAUTHINFO3 Credential=u/20261208 Signature=QUJD",
            f"PNAUTHINFO3 Credential={REDACTED} Signature={REDACTED}",
        ),
    ],
)
def test_credentials_nobody_registered_are_found_by_shape(name, value, expected):
    """OAuth fields wherever a URL can carry them (a fragment too, percent-encoded
    too), cookie values by the header's name, the credential after a scheme (not a
    word of prose), JSON Web Tokens, PNAUTHINFO3's parts."""
    assert Redactor().header(name, value) == (value if expected is None else expected)


def test_a_secret_is_masked_where_it_is_written_and_nowhere_else():
    """The place found in the decoded text is masked as written: the escapes that
    spell the secret go whole, the text around them stays."""
    r = Redactor(["pa+ss/wörd"])
    assert r.scan('{"m": "x pa\\u002bss\\/w\\u00f6rd y"}') == f'{{"m": "x {REDACTED} y"}}'
    assert r.scan("k=pa%2bss%2Fw%C3%B6rd&n=1") == f"k={REDACTED}&n=1"
    assert r.url("http://h/p?k=pa%2bss%2fw%c3%b6rd") == f"http://h/p?k={URL_REDACTED}"


@pytest.mark.parametrize(
    ("secret", "text", "expected"),
    [
        # a secret holding a backslash: there only when %3A is undone and \n is not
        ("\\n:", "x \\n%3A y", f"x {REDACTED} y"),
        # base64 of a one-byte secret, twice: each padded token stands alone
        ("0", "MA==MA==", REDACTED),
        # masking the secret in a run leaves the run's end, its base64, alone
        ("7", "AAA7Nw", f"AAA{REDACTED}{REDACTED}"),
    ],
)
def test_every_reading_of_the_text_is_compared_until_nothing_is_left(secret, text, expected):
    redactor = Redactor([secret])
    assert redactor.scan(text) == expected
    assert redactor.scan(expected) == expected


def test_what_is_kept_of_a_long_text_holds_no_piece_of_a_secret_its_window_cut():
    """A long text is scanned only as far as what is kept needs; masking can
    shorten that stretch so much that a secret cut by the window's end would
    slide under the cut: the window's last stretch is never kept."""
    secret = "Zx9-window-s3cret-q7"
    redactor = Redactor([secret])
    kept = redactor.head(secret * 200, 100)
    assert not [secret[i : i + 4] for i in range(len(secret) - 3) if secret[i : i + 4] in kept]
    # and a short text is kept whole
    assert redactor.head(f"a {secret} b", 100) == f"a {REDACTED} b"

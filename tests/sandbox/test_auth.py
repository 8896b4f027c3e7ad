"""PNAUTHINFO3 on the server side: every documented 401, and what passes."""

from __future__ import annotations

import datetime as dt

import pytest

from runner.apifacts import api, auth
from runner.sandbox import DEMO
from tests.support.sandbox_calls import Client

MESSAGES = api.facts()["auth"]["messages"]
REALM = api.facts()["auth"]["realm"]
NOW = dt.datetime.now(dt.timezone.utc)


def _signed(
    scheme: str, issued: str, secret: str | None = DEMO.secret, user: str = DEMO.user_id
) -> str:
    sig = auth.signature(
        auth.canonical_scheme(scheme) or scheme,
        secret,
        auth.string_to_sign(DEMO.client_id, user, issued),
    )
    return f"{scheme} Credential={user}/{issued} Signature={sig}"


def _stamp(delta_seconds: float = 0) -> str:
    return auth.format_issued(
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=delta_seconds)
    )


def _bad_signature() -> str:
    return f"{DEMO.scheme} Credential={DEMO.user_id}/{_stamp()} Signature=AAAA"


CASES = {
    "missing": lambda: None,
    "blank": lambda: "",
    "scheme": lambda: "Bearer abc",
    "scheme-basic": lambda: "Basic ZGVtbzpkZW1v",
    "malformed": lambda: f"{DEMO.scheme} Signature=abc",
    "date": lambda: _signed(DEMO.scheme, "yesterday"),
    "future": lambda: _signed(DEMO.scheme, _stamp(+120)),
    "old": lambda: _signed(DEMO.scheme, _stamp(-(api.facts()["auth"]["validity_seconds"] + 5))),
    "user": lambda: _signed(DEMO.scheme, _stamp(), user="stranger"),
    "signature": _bad_signature,
    "secret": lambda: _signed(DEMO.scheme, _stamp(), secret="wrong"),
    "unkeyed-with-key": lambda: _signed("PNAUTHINFO3-SHA256", _stamp()).replace(
        "Signature=", "Signature=x"
    ),
}
EXPECTED = {
    "missing": "missing",
    "blank": "missing",
    "scheme": "scheme",
    "scheme-basic": "scheme",
    "malformed": "failed",
    "date": "date_format",
    "future": "date_format",
    "old": "skew",
    "user": "failed",
    "signature": "failed",
    "secret": "failed",
    "unkeyed-with-key": "failed",
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("call", ["initiate", "status", "retrieve", "commit"])
def test_every_401_has_its_message_and_the_challenge(client: Client, case: str, call: str) -> None:
    header = CASES[case]()
    headers = {} if header is None else {"Authorization": header}
    if call == "initiate":
        r = client.initiate("All Profiles", {}, headers=headers)
    elif call == "status":
        r = client.status(1, headers=headers)
    else:
        method = client.session.get if call == "retrieve" else client.session.post
        r = method(client.url(call, accessToken=1), headers=headers)
    assert r.status_code == 401
    assert r.json() == {"Message": MESSAGES[EXPECTED[case]]}
    assert r.headers["WWW-Authenticate"] == f'PNAUTHINFO3 realm="{REALM}"'


@pytest.mark.parametrize("scheme", sorted(api.auth_schemes()))
def test_every_scheme_is_accepted_in_any_case(client: Client, scheme: str) -> None:
    keyed = api.auth_schemes()[scheme]["keyed"]
    for spelled in (scheme, scheme.lower()):
        header = _signed(spelled, _stamp(), DEMO.secret if keyed else None)
        r = client.initiate("All Profiles", {}, headers={"Authorization": header})
        assert r.status_code == 200, r.text


def test_issued_with_fraction_and_offset_is_accepted(client: Client) -> None:
    moment = dt.datetime.now(dt.timezone(dt.timedelta(hours=2))) - dt.timedelta(seconds=1)
    issued = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+02:00"
    r = client.initiate("All Profiles", {}, headers={"Authorization": _signed(DEMO.scheme, issued)})
    assert r.status_code == 200, r.text


def test_signature_covers_the_client_id(client: Client) -> None:
    r = client.session.post(
        client.url("initiate", segmentGroupName="All Profiles"),
        json={},
        headers=client.headers("SomeoneElse"),
    )
    assert r.status_code == 401 and r.json()["Message"] == MESSAGES["failed"]


def test_the_documented_realm_and_the_future_timestamp_message(client: Client) -> None:
    """docs.mypreferences.com/overview/authorization/custom-auth-scheme/errors: the
    challenge names the production realm, and a date set in the future gets the
    ISO 8601 message, not the skew one."""
    header = _signed(DEMO.scheme, _stamp(+600))
    r = client.initiate("All Profiles", {}, headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'PNAUTHINFO3 realm="https://pm.mypreferences.com"'
    assert r.json() == {"Message": "The specified date does not match an expected ISO 8601 format"}
    assert r.headers["Date"]  # every answer tells the server's time (clients estimate skew)

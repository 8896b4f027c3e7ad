"""The smaller documented facts: un-keyed schemes are unverified (validate warns),
and OAuth 2.0 may authenticate with a client certificate (paths, never contents)."""

from __future__ import annotations

import textwrap

from tests.support.processes import assert_no_traceback

HEAD = "version: 1\nclient_id: X\nenvironment: production\n"


def test_validate_warns_on_an_unkeyed_scheme(segrun, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        HEAD + "auth: {scheme: pnauthinfo3-sha256, user_id: u}\njobs:\n  - segment_group: VIP\n"
    )
    result = segrun("validate", str(spec))
    assert result.returncode == 0, result.stdout
    assert (
        "warning: auth.scheme: PNAUTHINFO3-SHA256 is un-keyed and UNVERIFIED: nothing public says "
        "what it hashes; prefer PNAUTHINFO3-HMAC-SHA256" in result.stdout
    )


def test_a_keyed_scheme_still_needs_its_secret(segrun, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        HEAD
        + "auth: {scheme: PNAUTHINFO3-HMAC-SHA384, user_id: u}\njobs:\n  - segment_group: VIP\n"
    )
    result = segrun("validate", str(spec))
    assert result.returncode == 2  # validate: an invalid spec
    assert "auth.secret_env: required when scheme is PNAUTHINFO3-HMAC-SHA384" in result.stdout


def test_oauth_with_a_client_certificate_needs_no_secret(segrun, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        HEAD
        + textwrap.dedent("""\
        auth:
          scheme: oauth2
          user_id: u
          token_url: https://login.example.invalid/token
          client_id_env: CID
          client_cert_file: certs/client.pem
          client_key_file: certs/client.key
        jobs:
          - segment_group: VIP
    """)
    )
    result = segrun("validate", str(spec))
    assert result.returncode == 0, result.stdout
    pasted = spec.read_text().replace("certs/client.pem", '"-----BEGIN CERTIFICATE-----\\nMIIB"')
    spec.write_text(pasted)
    result = segrun("validate", str(spec))
    assert result.returncode == 2  # validate: an invalid spec
    assert "auth.client_cert_file: give the PATH of the PEM file, not its contents" in result.stdout
    assert "MIIB" not in result.stdout.split("error:")[-1]
    assert_no_traceback(result)


def test_a_missing_certificate_file_fails_before_sending(segrun, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        HEAD
        + textwrap.dedent("""\
        auth:
          scheme: oauth2
          user_id: u
          token_url: https://127.0.0.1:9/token
          client_id_env: CID
          client_cert_file: nowhere.pem
        endpoints:
          confirmed: true
          confirmed_by: a test of the certificate check
          initiate: {path: "a/{clientId}/{segmentGroupName}"}
          status: {path: "s/{accessToken}"}
          retrieve: {path: "r/{accessToken}"}
          commit: {path: "c/{accessToken}"}
        jobs:
          - segment_group: VIP
    """)
    )
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"), env={"CID": "client-id"})
    assert result.returncode == 2, result.stderr
    assert (
        "client certificate file" in result.stderr and "nowhere.pem does not exist" in result.stderr
    )
    assert_no_traceback(result)

"""The export's CallbackURL: MyPreferences POSTs the status there when it is done.

Documented by the export overview ("optionally supply a callback URL") and the
legacy Initiate body (`CallbackURL`), with no word on retries or signing. The
sandbox POSTs the Status JSON once, and only to a loopback host: a local
simulator must never reach out to the network, whatever a caller sends it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from runner.jobspec.rules import is_loopback_host
from runner.sandbox.counters import Counters

TIMEOUT_SECONDS = 10.0


def is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname)


def post_status(url: str, status: dict, counters: Counters) -> None:
    """POST the status JSON; a refused or failed callback is counted, never raised."""
    if not is_loopback(url):
        counters.add("callbacks", "skipped (not loopback)")
        return
    request = urllib.request.Request(
        url,
        data=json.dumps(status).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy, ever
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            answer.read()
        counters.add("callbacks", "sent")
    except (urllib.error.URLError, OSError, ValueError):
        counters.add("callbacks", "failed")

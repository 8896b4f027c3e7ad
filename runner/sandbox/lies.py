"""Scripted misbehaviour: answers that break the documented contract on purpose.

Only `Faults.script` hands these out, never a random plan: they exist so the
client's defences (shape checks, reconcile) can be tested against a real server.
"""

from __future__ import annotations

import json

from runner.sandbox.replies import Reply, json_reply

LIES = (
    "400",
    "notjson",
    "wrongshape",
    "badcount",
    "badoffset",
    "badtoken",
    "miscount",  # Status: RowCount one more than the records (a warning for the client)
    "badtotal",  # Retrieve: TotalResults one more than the records (a failure)
)


def tell(lie: str, reply: Reply) -> Reply:
    """The reply, bent the way `lie` says; a refusal stays as it is."""
    if lie == "400":
        return json_reply(400, {"Message": "The request was invalid and cannot be processed."})
    if reply.status != 200:
        return reply
    if lie == "notjson":
        return Reply(200, b"<html><body>Service page</body></html>", {"Content-Type": "text/html"})
    if lie == "wrongshape":
        return json_reply(200, ["not", "an", "object"])
    body = json.loads(reply.body)
    if lie == "badcount" and "Count" in body:
        body["Count"] += 1
    elif lie == "badoffset" and "Offset" in body:
        body["Offset"] += 1
    elif lie == "badtoken" and "AccessToken" in body:
        body["AccessToken"] = str(body["AccessToken"])
    elif lie == "miscount" and isinstance(body.get("RowCount"), int):
        body["RowCount"] += 1
    elif lie == "badtotal" and isinstance(body.get("TotalResults"), int):
        body["TotalResults"] += 1
    return json_reply(200, body)

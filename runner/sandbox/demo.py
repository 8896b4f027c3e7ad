"""The built-in demo account, so a first `segrun sandbox` run needs no setup."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoAccount:
    client_id: str
    user_id: str
    secret: str  # a published demo secret: it guards nothing but a local simulator
    scheme: str

    # The environment variables segrun's job specs read credentials from.
    client_id_variable: str = "MYPREF_CLIENT_ID"
    user_id_variable: str = "MYPREF_USER_ID"
    secret_variable: str = "MYPREF_SECRET"

    def environment(self) -> dict[str, str]:
        return {
            self.client_id_variable: self.client_id,
            self.user_id_variable: self.user_id,
            self.secret_variable: self.secret,
        }


DEMO = DemoAccount(
    client_id="SanchezAssociates",
    user_id="demo-user",
    secret="segrun-sandbox-demo-secret",
    scheme="PNAUTHINFO3-HMAC-SHA256",
)

"""Attack harness: a hostile loopback server + a driver that runs segrun and
greps every file and stream for any spelling (and long fragments) of a secret.

usage: python tests/gate/evil_server.py SCENARIO [SECRET] [-- extra segrun args]
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "hostile"))
sys.path.insert(0, str(HERE.parent))
from hostile_server import _call, page, spec_text, spellings  # noqa: E402

SECRET = os.environ.get("EVIL_SECRET", "h0stile-S3cr3t/with+odd=chars&q")


def uesc(s: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in s)


class S(ThreadingHTTPServer):
    daemon_threads = True
    scenario = "fine"
    secret = SECRET
    auths: list = []


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def send(self, status, body, reason=None, headers=(), ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status, reason)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in [
            *headers,
            *[
                tuple(h.split(": ", 1))
                for h in filter(None, os.environ.get("EVIL_HDRS", "").split("||"))
            ],
        ]:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def normal(self, call):
        if call == "initiate":
            self.send(200, {"AccessToken": 4242})
        elif call == "status":
            self.send(200, {"AccessToken": 4242, "Status": "Complete", "RowCount": 1})
        elif call == "retrieve":
            self.send(200, page([{"ProfileId": "P1"}]))
        elif call == "commit":
            self.send(200, {"Message": "committed"})
        else:
            self.send(404, {"Message": "no"})

    def route(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        a = self.headers.get("Authorization")
        if a:
            self.server.auths.append(a)
        path = self.path.split("?")[0]
        scen, _, rest = path.lstrip("/").partition("/")
        call = _call(method, rest)
        fn = getattr(self, "s_" + scen.replace("-", "_"))
        fn(call)

    # --- scenarios ---------------------------------------------------------
    def s_fine(self, call):
        self.normal(call)

    def s_msg500(self, call):  # Message whose 500-char cut falls inside the secret
        s = self.server.secret
        self.send(401, {"Message": "x" * (500 - len(s) // 2) + s})

    def s_text200(self, call):  # non-JSON body cut at 200 bytes inside the secret
        s = self.server.secret
        self.send(401, ("y" * (200 - len(s) // 2) + s).encode(), ctype="text/plain")

    def s_uesc(self, call):  # Message with the secret written as \\uXXXX escapes
        s = self.server.secret
        self.send(401, ('{"Message": "denied ' + uesc(s) + '"}').encode())

    def s_slash(self, call):  # JSON's optional escaped solidus
        s = self.server.secret.replace("/", "\\/")
        self.send(401, ('{"Message": "denied ' + s + '"}').encode())

    def s_b64url(self, call):  # url-safe base64 without padding
        s = base64.urlsafe_b64encode(self.server.secret.encode()).decode().rstrip("=")
        self.send(401, {"Message": "denied " + s})

    def s_gzip(self, call):
        data = gzip.compress(json.dumps({"Message": "denied " + self.server.secret}).encode())
        self.send(401, data, headers=[("Content-Encoding", "gzip")])

    def s_key(self, call):  # secret as a JSON key and in a nested Message
        s = self.server.secret
        self.send(401, {s: 1, "Message": {"Message": s}, "Errors": [{"Message": s}]})

    def s_location(self, call):
        s = self.server.secret
        self.send(
            503,
            {"Message": "busy"},
            headers=[("Location", "/x?s=" + s), ("Set-Cookie", "sid=" + s), ("Retry-After", s)],
        )

    def s_reason(self, call):
        self.send(401, {"Message": "no"}, reason="Denied " + self.server.secret)

    def s_ok_echo(self, call):  # success everywhere, with the secret in a header and reason
        s = self.server.secret
        if call == "retrieve":
            return self.send(
                200, page([{"ProfileId": "P1"}]), reason="OK " + s, headers=[("X-E", s)]
            )
        self.normal(call)

    def s_busy(self, call):  # 503 retried, Message holding the secret after a prefix
        self.send(
            503,
            {"Message": "busy " + "z" * int(os.environ.get("EVIL_PAD", "30")) + self.server.secret},
            headers=[("Retry-After", "1")],
        )

    def s_gen(self, call):  # EVIL_CALL answers EVIL_STATUS with EVIL_BODY (a Python bytes literal)
        if call != os.environ.get("EVIL_CALL", "status"):
            return self.normal(call)
        body = (
            os.environ.get("EVIL_BODY", "{}")
            .encode("utf-8", "surrogateescape")
            .replace(b"<BOM>", b"\xef\xbb\xbf")
        )
        status = int(os.environ.get("EVIL_STATUS", "200"))
        if status == 204 or status == 304:
            self.send_response(status)
            self.end_headers()
            return
        self.send(status, body, ctype=os.environ.get("EVIL_CTYPE", "application/json"))

    TOKEN = "tok_5e4d3c2b1a09f8e7d6c5"

    def s_oauth_hdr(self, call):  # the token endpoint also echoes the token in a header
        if call == "token":
            return self.send(
                200,
                {"access_token": self.TOKEN, "expires_in": 3600},
                headers=[("X-Token", self.TOKEN), ("Set-Cookie", "t=" + self.TOKEN)],
            )
        self.normal(call)

    def s_oauth_basic(self, call):  # the token endpoint echoes the Basic credentials it got
        if call == "token":
            return self.send(
                401, {"Message": "bad client " + self.headers.get("Authorization", "")}
            )
        self.normal(call)

    def s_oauth_bigexp(self, call):  # expires_in too big for a float
        if call == "token":
            return self.send(
                200,
                (
                    '{{"access_token": "{}", "expires_in": 1{}}}'.format(self.TOKEN, "0" * 400)
                ).encode(),
            )
        self.normal(call)

    def s_cont(self, call):  # Status: endless 100 Continue interim responses, one every 0.5 s
        if call != "status":
            return self.normal(call)
        try:
            for _ in range(240):
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass
        self.close_connection = True

    def s_hdrtrickle(self, call):  # Status: headers trickle, one short header every 0.5 s
        if call != "status":
            return self.normal(call)
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(240):
                self.wfile.write(b"X-%d: y\r\n" % i)
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass
        self.close_connection = True

    def s_redirect(self, call):  # every call redirects to itself
        self.send(307, {"Message": "again"}, headers=[("Location", self.path)])

    def s_chunked(self, call):  # chunked 401 split mid-secret
        s = self.server.secret
        body = json.dumps({"Message": "denied " + s}).encode()
        mid = body.index(s.encode()) + len(s.encode()) // 2
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (body[:mid], body[mid:]):
            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.flush()
            time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")


def leaks(secret, folders, streams, frag=8):
    forms = spellings(secret)
    found = []
    frags = set()
    if frag and len(secret) >= 2 * frag:
        frags = {secret[i : i + frag] for i in range(len(secret) - frag + 1)}
    for folder in folders:
        for p in sorted(q for q in Path(folder).rglob("*") if q.is_file()):
            t = p.read_bytes().decode("utf-8", "replace")
            found += [f"{p}: {f!r}" for f in forms if f in t]
            found += [
                f"{p}: FRAGMENT {f!r}" for f in frags if f in t and not any(g in t for g in forms)
            ][:1]
    for i, t in enumerate(streams):
        found += [f"stream{i}: {f!r}" for f in forms if f in t]
        found += [f"stream{i}: FRAGMENT {f!r}" for f in frags if f in t][:1]
    return found


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        i = args.index("--")
        args, extra = args[:i], args[i + 1 :]
    scen = args[0]
    secret = args[1] if len(args) > 1 else SECRET
    srv = S(("127.0.0.1", 0), H)
    srv.scenario, srv.secret = scen, secret
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="atk9-"))
    url = f"http://127.0.0.1:{srv.server_address[1]}/{scen}/"
    (tmp / "spec.yaml").write_text(
        spec_text(url, jobs=os.environ.get("EVIL_JOBS") or None, oauth=scen.startswith("oauth"))
    )
    env = {
        **os.environ,
        "HOSTILE_SECRET": secret,
        "HOSTILE_CLIENT_ID": os.environ.get("EVIL_CLIENT_ID", "hostile-client-7f3a"),
        "COLUMNS": os.environ.get("COLUMNS", "80"),
    }
    if not os.environ.get("EVIL_DEBUG"):
        env.pop("SEGRUN_DEBUG", None)
    (tmp / "state").mkdir(mode=0o700, exist_ok=True)  # segrun never creates a given --state folder
    cmd = [
        "segrun",
        "run",
        str(tmp / "spec.yaml"),
        "--out",
        str(tmp / "run"),
        "--state",
        str(tmp / "state" / "state.json"),
        *extra,
    ]
    if os.environ.get("EVIL_TTY"):
        import shlex

        cmd = ["script", "-qc", shlex.join(cmd), "/dev/null"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=90)
    print(f"exit {p.returncode} in {time.monotonic() - t0:.1f}s  dir {tmp}")
    if os.environ.get("EVIL_NOREPORT"):
        rep = subprocess.CompletedProcess([], 0, "", "")
    else:
        rep = subprocess.run(
            ["segrun", "report", str(tmp / "run")], capture_output=True, text=True, env=env
        )
    sigs = [a.rpartition("Signature=")[2] for a in srv.auths if "Signature=" in a]
    found = []
    for s in [secret, *sigs, H.TOKEN, env["HOSTILE_CLIENT_ID"]]:
        found += leaks(
            s, [tmp / "run", tmp / "state"], [p.stdout, p.stderr, rep.stdout, rep.stderr]
        )
    print("LEAKS:" if found else "no leaks", *found[:20], sep="\n  ")
    if os.environ.get("EVIL_SHOW"):
        print("--- stdout\n" + p.stdout + "\n--- stderr\n" + p.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

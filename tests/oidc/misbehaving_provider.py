"""An OpenID provider that gets things wrong on purpose, for tests/oidc.rs.

The sign-in path itself is tested against a real provider (oidc-provider-mock); this one
answers the same protocol (discovery, keys, authorization, token) but issues the ID
tokens a relying party must refuse, or rotates its signing key, as `--mode` says:

  bad_signature   signed with a key it does not publish
  wrong_audience  issued to another client
  expired         expired ten minutes ago
  wrong_nonce     carrying another sign-in's nonce
  rotating        the first token signed with key 1, later ones with key 2 (and only key 2
                  published from then on)

Every user signs in at once (no form): the subject is `--sub`, with the groups given.
"""

import argparse
import json
import secrets
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--mode", required=True)
parser.add_argument("--sub", default="mallory")
parser.add_argument("--groups", default="team-payments")
args = parser.parse_args()

ISSUER = f"http://127.0.0.1:{args.port}"
KEY_1 = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
KEY_2 = RSAKey.generate_key(2048, parameters={"kid": "key-2"})
UNPUBLISHED = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
codes = {}
issued = 0


def published():
    # Rotated once the second token is out (the first is checked after it is issued).
    key = KEY_2 if args.mode == "rotating" and issued > 1 else KEY_1
    return {"keys": [key.as_dict(private=False)]}


def id_token(client_id, nonce):
    global issued
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": args.sub,
        "aud": client_id,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "preferred_username": args.sub,
        "groups": args.groups.split(","),
    }
    key = KEY_1
    if args.mode == "bad_signature":
        key = UNPUBLISHED
    elif args.mode == "wrong_audience":
        claims["aud"] = "another-application"
    elif args.mode == "expired":
        claims["iat"], claims["exp"] = now - 1200, now - 600
    elif args.mode == "wrong_nonce":
        claims["nonce"] = "a-nonce-of-another-sign-in"
    elif args.mode == "rotating" and issued > 0:
        key = KEY_2
    issued += 1
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def send(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            self.send(200, {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })
        elif url.path == "/jwks":
            self.send(200, published())
        elif url.path == "/authorize":
            code = secrets.token_urlsafe(16)
            codes[code] = (query["client_id"], query.get("nonce", ""))
            back = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
            self.send(302, None, [("Location", back)])
        else:
            self.send(404, {"error": "not_found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if urlparse(self.path).path != "/token" or form.get("code") not in codes:
            self.send(400, {"error": "invalid_grant"})
            return
        client_id, nonce = codes.pop(form["code"])
        self.send(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "id_token": id_token(client_id, nonce)})


print(f"listening on {ISSUER}", flush=True)
ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()

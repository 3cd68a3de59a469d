"""Token checks: keys from PEM files and from a JWKS document served over HTTP (loopback)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from deconfliction.auth import AuthConfig, public_pem
from deconfliction.errors import Unauthenticated


def _rs256(key: rsa.RSAPrivateKey, kid: str, **claims: object) -> str:
    now = int(time.time())
    body = {
        "sub": "fake_uss",
        "aud": "localhost",
        "exp": now + 3600,
        "iss": "NoAuth",
        "scope": "utm.strategic_coordination",
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    doc = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(doc)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


def test_pem_keys_audience_and_expiry(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = AuthConfig([public_pem(rsa_key)], ["localhost"])  # type: ignore[arg-type]
    p = auth.verify(_rs256(rsa_key, "k1"))
    assert p.subject == "fake_uss" and "utm.strategic_coordination" in p.scopes
    for bad in (_rs256(rsa_key, "k1", aud="elsewhere"), _rs256(rsa_key, "k1", exp=1)):
        with pytest.raises(Unauthenticated):
            auth.verify(bad)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated):
        auth.verify(_rs256(other, "k1"))


def test_jwks_url_keys_are_accepted(rsa_key: rsa.RSAPrivateKey, jwks_url: str) -> None:
    auth = AuthConfig([], ["localhost"], [jwks_url])
    assert auth.verify(_rs256(rsa_key, "k1")).subject == "fake_uss"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated):
        auth.verify(_rs256(other, "k1"))
    with pytest.raises(Unauthenticated):
        auth.verify(_rs256(rsa_key, "unknown-kid"))


def test_a_remembered_token_still_expires(rsa_key: rsa.RSAPrivateKey) -> None:
    """Verified tokens are reused for speed, but never past their exp: then checked again."""
    auth = AuthConfig([public_pem(rsa_key)], ["localhost"])
    exp = int(time.time()) + 30
    token = _rs256(rsa_key, "k1", exp=exp)
    checks: list[str] = []
    real = auth._verify

    def counted(t: str) -> tuple[object, float]:
        checks.append(t)
        return real(t)

    auth._verify = counted  # type: ignore[method-assign,assignment]
    assert auth.verify(token).subject == "fake_uss"
    assert auth.verify(token).subject == "fake_uss"
    assert len(checks) == 1  # the second came from memory
    auth.clock = lambda: exp + 0.001
    assert auth.verify(token).subject == "fake_uss"  # (the real clock says it is still valid)
    assert len(checks) == 2  # past exp by our clock: the signature was checked again

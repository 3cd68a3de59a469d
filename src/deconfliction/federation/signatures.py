"""HTTP Message Signatures (RFC 9421) with Ed25519, over a Content-Digest (RFC 9530).

Every request between nodes, and every answer to one, is signed by the sending node's key. A
request carries::

    Content-Digest: sha-256=:BASE64(SHA-256(body)):
    Deconfliction-To: KEY_ID_OF_THE_RECEIVER
    Signature-Input: fed=("@method" "@path" "content-type" "content-digest" "deconfliction-to");
        created=UNIX;expires=UNIX;nonce="RANDOM";keyid="KEY_ID";alg="ed25519";
        tag="deconfliction-federation"
    Signature: fed=:BASE64(Ed25519 signature of the signature base):

The signature base is built as RFC 9421 section 2.5 says: one line per covered component
(``"name": value``), then ``"@signature-params": `` and the serialized parameters. A key id is
the SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo (as for audit keys).

The request is bound to its receiver by ``Deconfliction-To`` (a key, not an address: a proxy or
a second address changes nothing, and a request signed for one node is refused by another).
An answer covers ``"@status"`` instead of the method and path, and names the requester in
``Deconfliction-To``; its body names the request's nonce, so it cannot be replayed to another
request.

Verification here is strict: exactly the label, components and parameters this module writes,
``alg="ed25519"`` and our tag; ``created`` within ``SKEW_S`` of now and ``expires`` not passed.
Nonces are remembered by the caller (``inbox``) until the signature could no longer be fresh.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

LABEL = "fed"
TAG = "deconfliction-federation"
TO_HEADER = "deconfliction-to"
#: Components a request's signature covers, and an answer's.
REQUEST_COMPONENTS = ("@method", "@path", "content-type", "content-digest", TO_HEADER)
RESPONSE_COMPONENTS = ("@status", "content-type", "content-digest", TO_HEADER)
#: How far ``created`` may be from the receiver's clock (seconds), and the longest validity.
SKEW_S = 300.0
LIFETIME_S = 300.0

_INPUT = re.compile(
    r'^(?P<label>[a-z][a-z0-9_-]*)=\((?P<components>(?:"[^"\\]+"(?: "[^"\\]+")*)?)\)'
    r'(?P<params>(?:;[a-z]+=(?:[0-9]{1,12}|"[^"\\]{0,200}"))*)$'
)
_PARAM = re.compile(r';([a-z]+)=([0-9]{1,12}|"[^"\\]{0,200}")')
_SIG = re.compile(r"^(?P<label>[a-z][a-z0-9_-]*)=:(?P<b64>[A-Za-z0-9+/]{1,200}={0,2}):$")
_DIGEST = re.compile(r"^sha-256=:(?P<b64>[A-Za-z0-9+/]{43}=):$")


class SignatureError(Exception):
    """A signature that does not verify, or is not one this module accepts (with why)."""


def content_digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def _params(created: int, expires: int, nonce: str, key_id: str) -> str:
    return (
        f';created={created};expires={expires};nonce="{nonce}";keyid="{key_id}"'
        f';alg="ed25519";tag="{TAG}"'
    )


def signature_base(components: tuple[str, ...], values: Mapping[str, str], params: str) -> bytes:
    inner = " ".join(f'"{c}"' for c in components)
    lines = [f'"{c}": {values[c]}' for c in components]
    lines.append(f'"@signature-params": ({inner}){params}')
    return "\n".join(lines).encode()


def _sign(
    key: Ed25519PrivateKey,
    key_id: str,
    components: tuple[str, ...],
    values: Mapping[str, str],
    now: float,
    nonce: str | None,
) -> dict[str, str]:
    created = int(now)
    params = _params(created, created + int(LIFETIME_S), nonce or secrets.token_urlsafe(18), key_id)
    sig = key.sign(signature_base(components, values, params))
    inner = " ".join(f'"{c}"' for c in components)
    return {
        "signature-input": f"{LABEL}=({inner}){params}",
        "signature": f"{LABEL}=:{base64.b64encode(sig).decode()}:",
    }


def sign_request(
    key: Ed25519PrivateKey,
    key_id: str,
    *,
    method: str,
    path: str,
    body: bytes,
    to_key_id: str,
    now: float,
    content_type: str = "application/json",
) -> dict[str, str]:
    """The headers that sign a request (``Content-Type`` included)."""
    values = {
        "@method": method.upper(),
        "@path": path,
        "content-type": content_type,
        "content-digest": content_digest(body),
        TO_HEADER: to_key_id,
    }
    headers = {k: v for k, v in values.items() if not k.startswith("@")}
    return {**headers, **_sign(key, key_id, REQUEST_COMPONENTS, values, now, None)}


def sign_response(
    key: Ed25519PrivateKey,
    key_id: str,
    *,
    status: int,
    body: bytes,
    to_key_id: str,
    now: float,
    content_type: str = "application/json",
) -> dict[str, str]:
    values = {
        "@status": str(status),
        "content-type": content_type,
        "content-digest": content_digest(body),
        TO_HEADER: to_key_id,
    }
    headers = {k: v for k, v in values.items() if not k.startswith("@")}
    return {**headers, **_sign(key, key_id, RESPONSE_COMPONENTS, values, now, None)}


@dataclass(frozen=True)
class Signed:
    """What a verified signature says: who signed (key id), its nonce and its time window."""

    key_id: str
    nonce: str
    created: int
    expires: int


def parse(headers: Mapping[str, str], components: tuple[str, ...]) -> tuple[Signed, str, bytes]:
    """(the signature's parameters, the serialized parameters, the signature bytes), or
    SignatureError: only this module's own form is accepted."""
    raw_input = headers.get("signature-input", "")
    raw_sig = headers.get("signature", "")
    if not raw_input or not raw_sig:
        raise SignatureError("no Signature-Input and Signature headers")
    m = _INPUT.match(raw_input.strip())
    if m is None or m.group("label") != LABEL:
        raise SignatureError("Signature-Input is not in the expected form")
    covered = tuple(c.strip('"') for c in m.group("components").split()) if m["components"] else ()
    if covered != components:
        raise SignatureError(f"the signature must cover {' '.join(components)}")
    params = dict(_PARAM.findall(m.group("params")))
    names = ["created", "expires", "nonce", "keyid", "alg", "tag"]
    if sorted(params) != sorted(names) or m.group("params") != "".join(
        f";{n}={params[n]}" for n in names
    ):
        raise SignatureError("the signature parameters are not the expected ones")
    if params["alg"] != '"ed25519"' or params["tag"] != f'"{TAG}"':
        raise SignatureError("only alg=ed25519 with this service's tag is accepted")
    if not params["created"].isdigit() or not params["expires"].isdigit():
        raise SignatureError("created and expires must be integers")
    s = _SIG.match(raw_sig.strip())
    if s is None or s.group("label") != LABEL:
        raise SignatureError("Signature is not in the expected form")
    try:
        sig = base64.b64decode(s.group("b64"), validate=True)
    except ValueError:
        raise SignatureError("Signature is not base64") from None
    signed = Signed(
        key_id=params["keyid"].strip('"'),
        nonce=params["nonce"].strip('"'),
        created=int(params["created"]),
        expires=int(params["expires"]),
    )
    return signed, m.group("params"), sig


def key_id_of(headers: Mapping[str, str]) -> str | None:
    """The key id a request says it is signed with (not verified), if any."""
    m = re.search(r';keyid="([0-9a-f]{64})"', headers.get("signature-input", ""))
    return None if m is None else m.group(1)


def _check(
    public: Ed25519PublicKey,
    components: tuple[str, ...],
    values: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    key_id: str,
    to_key_id: str,
    now: float,
) -> Signed:
    signed, params, sig = parse(headers, components)
    if signed.key_id != key_id:
        raise SignatureError("signed with another key than the peer's")
    if headers.get(TO_HEADER, "") != to_key_id:
        raise SignatureError("addressed to another node")
    if not _DIGEST.match(headers.get("content-digest", "")):
        raise SignatureError("no Content-Digest (sha-256)")
    if headers.get("content-digest") != content_digest(body):
        raise SignatureError("the body does not match its Content-Digest")
    if abs(now - signed.created) > SKEW_S:
        raise SignatureError("created too far from now (replayed, or a clock off)")
    if signed.expires < now or signed.expires - signed.created > LIFETIME_S:
        raise SignatureError("the signature has expired")
    full = {**values, **{c: headers.get(c, "") for c in components if not c.startswith("@")}}
    try:
        public.verify(sig, signature_base(components, full, params))
    except InvalidSignature:
        raise SignatureError("the signature does not verify") from None
    return signed


def verify_request(
    public: Ed25519PublicKey,
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    key_id: str,
    to_key_id: str,
    now: float,
) -> Signed:
    """Check a request's signature (``headers`` with lower-case names); SignatureError if not."""
    return _check(
        public,
        REQUEST_COMPONENTS,
        {"@method": method.upper(), "@path": path},
        headers,
        body,
        key_id=key_id,
        to_key_id=to_key_id,
        now=now,
    )


def verify_response(
    public: Ed25519PublicKey,
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    key_id: str,
    to_key_id: str,
    now: float,
) -> Signed:
    return _check(
        public,
        RESPONSE_COMPONENTS,
        {"@status": str(status)},
        headers,
        body,
        key_id=key_id,
        to_key_id=to_key_id,
        now=now,
    )

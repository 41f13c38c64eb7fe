"""`TokenIssuer`: the bearer tokens Cloud Tasks puts on HTTP-target requests, and the public keys
that verify them.

An `oidc_token` becomes a JWT signed (RS256) with a key the emulator makes at start-up, carrying
production's claims: `aud` (the configured audience, else the task's URL), `azp` and `sub` (a
numeric id of the service account), `email`, `email_verified`, `iat`, `exp` (an hour later) and
`iss` `https://accounts.google.com`. An `oauth_token` becomes an opaque access token, as production
sends. `wsgi_app` serves the public key as a JWK Set at `/jwks` and as Google's
`{key id: x509 certificate}` map at `/certs` (what google-auth's `id_token.verify_token(...,
certs_url=...)` reads without PyJWT). The key lives as long as the process: tokens of an earlier
run do not verify.

Imports: the standard library and `cryptography` (a dependency of google-auth, which the `[cloud]`
extra brings).
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import time
from typing import Any, Callable, Dict, Iterable, List, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def account_id(email: str) -> str:
    """A stable 21-digit id for a service account (production's `sub` is its numeric unique id)."""
    return str(10**20 + int(hashlib.sha256(email.encode("utf-8")).hexdigest(), 16) % (9 * 10**20))


class TokenIssuer:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = self._key.public_key()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = hashlib.sha256(der).hexdigest()[:40]
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gae-emu Cloud Tasks OIDC")])
        self._cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
                      .serial_number(x509.random_serial_number())
                      .not_valid_before(now - datetime.timedelta(days=1))
                      .not_valid_after(now + datetime.timedelta(days=365))
                      .sign(self._key, hashes.SHA256()))

    # -- tokens -----------------------------------------------------------------------------------

    def id_token(self, email: str, audience: str) -> str:
        now = int(self.clock())
        sub = account_id(email)
        claims = {"aud": audience, "azp": sub, "email": email, "email_verified": True, "exp": now + TOKEN_LIFETIME,
                  "iat": now, "iss": ISSUER, "sub": sub}
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    @staticmethod
    def access_token(email: str, scope: Optional[str]) -> str:
        """Opaque, like production's `ya29.` tokens; nothing can verify it (as with the real one
        outside Google's token-info endpoint)."""
        return "ya29.gae-emu." + secrets.token_urlsafe(32)

    # -- public keys ------------------------------------------------------------------------------

    def jwks(self) -> Dict[str, List[Dict[str, str]]]:
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                          "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}]}

    def certs(self) -> Dict[str, str]:
        return {self.kid: self._cert.public_bytes(serialization.Encoding.PEM).decode("ascii")}

    def wsgi_app(self, environ: Dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """GET /jwks and GET /certs; anything else is 404 (405 for another method)."""
        path = environ.get("PATH_INFO", "")
        documents = {"/jwks": self.jwks, "/certs": self.certs}
        if path not in documents:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: the keys are at /jwks (JWK Set) and /certs (x509 certificates)."]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")])
            return [b"Method not allowed."]
        body = json.dumps(documents[path](), indent=2).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [body]

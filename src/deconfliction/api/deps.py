"""What routes depend on: the caller (from its bearer token), its party, the store."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..auth import AuthConfig, Principal
from ..errors import Forbidden, NotFound, Unauthenticated
from ..store import Store

_bearer = HTTPBearer(auto_error=False)


def _principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token (Authorization: Bearer <token>)")
    auth: AuthConfig = request.app.state.auth
    return auth.verify(creds.credentials)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


PrincipalDep = Annotated[Principal, Depends(_principal)]
StoreDep = Annotated[Store, Depends(_store)]


def _party(request: Request, principal: PrincipalDep, store: StoreDep) -> str:
    """The caller's party: 403 if its token names none registered, or a party another node
    hosts; any other failure (the database out of reach: 503) is answered as what it is."""
    try:
        party = store.get_party(principal.subject).id
    except NotFound:
        raise Forbidden(f"token subject {principal.subject!r} is not a registered party") from None
    node = getattr(request.app.state, "federation", None)
    elsewhere = None if node is None else node.hosted_elsewhere(party)
    if elsewhere is not None:  # its users act on their own node; here it only releases
        raise Forbidden(f"party {party!r} is hosted by node {elsewhere!r}: use that node")
    return party


PartyDep = Annotated[str, Depends(_party)]

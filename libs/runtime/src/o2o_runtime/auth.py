"""Who is calling, and whether they may: token verification and declared access rules.

Every service verifies tokens itself (the gateway is not the only wall). Identity signs
RS256 JWTs with a key id; services verify them against identity's published keys, cached
and refetched when an unknown key id shows up (that is how rotation reaches them).

Access is declared once per service as a `Policy`: for each RPC, which principals may
call it and on what data. The server interceptor enforces it before the handler runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

import jwt
from google.protobuf.message import Message

from o2o_runtime.cache import TtlCache
from o2o_runtime.errors import PermissionDenied, Unauthenticated


class Kind(StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    DEVICE = "device"
    PARTNER = "partner"
    SERVICE = "service"


class Role(StrEnum):
    ASSOCIATE = "associate"
    STORE_MANAGER = "store_manager"
    REGIONAL_MANAGER = "regional_manager"
    OWNER = "owner"
    ADMIN = "admin"


# Roles that reach every store of the chain.
CHAIN_WIDE = frozenset({Role.OWNER, Role.ADMIN})
MANAGERS = frozenset({Role.STORE_MANAGER, Role.REGIONAL_MANAGER, Role.OWNER, Role.ADMIN})
ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Principal:
    kind: Kind
    subject: str
    role: Role | None = None
    # Stores the principal acts in: an associate's or manager's stores (a regional
    # manager's are resolved at token issue), a device's one store.
    store_ids: frozenset[str] = frozenset()
    region: str = ""
    scopes: frozenset[str] = frozenset()
    # The partner app a member token was issued through, if any.
    partner: str = ""

    @property
    def chain_wide(self) -> bool:
        return self.kind is Kind.SERVICE or (self.kind is Kind.STAFF and self.role in CHAIN_WIDE)

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": self.subject, "knd": self.kind.value}
        if self.role:
            claims["role"] = self.role.value
        if self.store_ids:
            claims["stores"] = sorted(self.store_ids)
        if self.region:
            claims["region"] = self.region
        if self.scopes:
            claims["scope"] = " ".join(sorted(self.scopes))
        if self.partner:
            claims["azp"] = self.partner
        return claims

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        return cls(
            kind=Kind(claims["knd"]),
            subject=str(claims["sub"]),
            role=Role(claims["role"]) if claims.get("role") else None,
            store_ids=frozenset(claims.get("stores", ())),
            region=str(claims.get("region", "")),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            partner=str(claims.get("azp", "")),
        )


_current: ContextVar[Principal | None] = ContextVar("o2o_principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("authentication required")
    return principal


def optional_principal() -> Principal | None:
    return _current.get()


def set_principal(principal: Principal | None) -> object:
    return _current.set(principal)


# ---- token verification -------------------------------------------------------------

# No token lives longer (identity's lifetimes are bounded by it), so a revocation need only
# be remembered that long.
MAX_TOKEN_LIFETIME = timedelta(days=1)


class KeySource(Protocol):
    async def public_jwks(self) -> list[dict[str, str]]: ...


class TokenVerifier:
    """Verifies bearer tokens; caches keys by id and verified tokens until they expire.

    erased_members: ids of members whose tokens are refused although validly signed
    (o2o_runtime.revocation.ErasedMembers), asked on every call, cached tokens included."""

    _REFRESH_MIN_INTERVAL_S = 5.0
    _CACHE_MAX = 10_000

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 5.0,
        erased_members: Container[str] = frozenset(),
    ) -> None:
        self._erased = erased_members
        self._source = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s
        self._keys: dict[str, Any] = {}
        self._last_refresh = 0.0
        self._refresh_lock = asyncio.Lock()
        # Verified tokens, each until it expires.
        self._verified: TtlCache[str, Principal] = TtlCache(self._CACHE_MAX, 0.0)

    async def _refresh(self) -> None:
        async with self._refresh_lock:
            # An unknown key id triggers one refetch, not one per request.
            if time.monotonic() - self._last_refresh < self._REFRESH_MIN_INTERVAL_S and self._keys:
                return
            jwks = await self._source.public_jwks()
            self._keys = {k["kid"]: jwt.PyJWK.from_dict(k).key for k in jwks}
            self._last_refresh = time.monotonic()

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            return self._unrevoked(cached)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str):
            raise Unauthenticated("invalid token")
        if kid not in self._keys:
            try:
                await self._refresh()
            except Exception:
                raise Unauthenticated("token keys unavailable") from None
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("invalid token")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
            principal = Principal.from_claims(claims)
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except (jwt.PyJWTError, KeyError, ValueError):
            raise Unauthenticated("invalid token") from None
        self._verified.put(token, principal, ttl_s=float(claims["exp"]) - time.time())
        return self._unrevoked(principal)

    def _unrevoked(self, principal: Principal) -> Principal:
        if principal.kind is Kind.MEMBER and principal.subject in self._erased:
            raise Unauthenticated("token revoked: the member was erased")
        return principal


# ---- access rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """The data an RPC touches, as far as access is concerned."""

    member_id: str = ""
    staff_id: str = ""
    store_ids: frozenset[str] = frozenset()


# Finds the resource a request names by its key; None when it does not exist (the
# handler then answers NOT_FOUND).
Resolver = Callable[[str], Awaitable[Resource | None]]


class Relation(StrEnum):
    # No data check beyond the kind, role or scope.
    ANY = "any"
    # The resource is the caller: the member themself, or the staff member themself.
    SELF = "self"
    # The resource belongs to one of the caller's stores (chain-wide roles always pass).
    STORES = "stores"


@dataclass(frozen=True)
class Allow:
    """One way to be allowed: a kind of principal, optionally roles or a partner scope,
    and how it must relate to the resource the request names."""

    kind: Kind
    roles: frozenset[Role] = frozenset()
    scope: str = ""
    relation: Relation = Relation.ANY

    def matches(self, principal: Principal) -> bool:
        if principal.kind is not self.kind:
            return False
        if self.roles and principal.role not in self.roles:
            return False
        return not (self.scope and self.scope not in principal.scopes)

    def permits(self, principal: Principal, resource: Resource | None) -> bool:
        if self.relation is Relation.ANY or resource is None:
            return True
        if self.relation is Relation.SELF:
            own = resource.member_id if principal.kind is Kind.MEMBER else resource.staff_id
            return bool(own) and own == principal.subject
        if principal.chain_wide:
            return True
        return bool(resource.store_ids & principal.store_ids)


def member(relation: Relation = Relation.SELF) -> Allow:
    return Allow(Kind.MEMBER, relation=relation)


def staff(roles: Iterable[Role] = ALL_ROLES, relation: Relation = Relation.STORES) -> Allow:
    return Allow(Kind.STAFF, roles=frozenset(roles), relation=relation)


def device(relation: Relation = Relation.STORES) -> Allow:
    return Allow(Kind.DEVICE, relation=relation)


def partner(scope: str) -> Allow:
    return Allow(Kind.PARTNER, scope=scope)


def service() -> Allow:
    return Allow(Kind.SERVICE)


@dataclass(frozen=True)
class Rule:
    allow: tuple[Allow, ...] = ()
    public: bool = False
    # The kind of resource the request names ("member", "store", "staff"...) and the
    # dotted path of the request field that holds its id.
    resource: str = ""
    key: str = ""


def public() -> Rule:
    return Rule(public=True)


def rule(*allow: Allow, resource: str = "", key: str = "") -> Rule:
    return Rule(allow=allow, resource=resource, key=key)


def field_value(request: Message, path: str) -> str:
    value: Any = request
    for part in path.split("."):
        value = getattr(value, part)
    return str(value)


def _direct_resource(kind: str, key: str) -> Resource | None:
    """The resource a request names, as far as its id alone tells."""
    if kind == "store":
        return Resource(store_ids=frozenset((key,)))
    if kind == "member":
        return Resource(member_id=key)
    if kind == "staff":
        return Resource(staff_id=key)
    return None


@dataclass
class Policy:
    """The access rules of one gRPC service: method name -> Rule. A method without a rule
    is refused, so a new RPC stays closed until someone declares who may call it."""

    service: str
    rules: Mapping[str, Rule]
    resolvers: dict[str, Resolver] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, found in self.rules.items():
            if (
                found.resource
                and found.resource not in ("member", "staff", "store")
                and found.resource not in self.resolvers
            ):
                raise ValueError(f"{self.service}/{name}: no resolver for resource {found.resource!r}")

    async def authorize(self, method: str, principal: Principal | None, request: Message | None) -> None:
        found = self.rules.get(method)
        if found is None:
            raise PermissionDenied(f"{method} is not open to any caller")
        if found.public:
            return
        if principal is None:
            raise Unauthenticated("authentication required")
        candidates = [a for a in found.allow if a.matches(principal)]
        if not candidates:
            raise PermissionDenied(f"a {principal.kind.value} may not call {method}")
        if not found.resource or request is None or all(a.relation is Relation.ANY for a in candidates):
            return
        key = field_value(request, found.key)
        if not key:
            # Missing ids are the handler's to report as INVALID_ARGUMENT.
            return
        resource = await self._resource(found.resource, key, candidates, principal)
        if not any(a.permits(principal, resource) for a in candidates):
            raise PermissionDenied(f"a {principal.kind.value} may not call {method} on this {found.resource}")

    async def _resource(self, kind: str, key: str, candidates: list[Allow], principal: Principal) -> Resource | None:
        direct = _direct_resource(kind, key)
        needs_stores = any(a.relation is Relation.STORES for a in candidates) and not principal.chain_wide
        if direct is not None and (kind == "store" or not needs_stores):
            # Self checks and store checks need no lookup.
            return direct
        resolver = self.resolvers.get(kind)
        if resolver is None:
            return direct
        return await resolver(key)

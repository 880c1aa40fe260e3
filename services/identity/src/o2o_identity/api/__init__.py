"""Identity's gRPC layer, by area: each part validates requests, turns them into commands for
its use cases, and maps what they return to messages. The generated servicer is one class,
so the parts are composed into it here."""

from __future__ import annotations

from o2o.identity.v1 import identity_pb2_grpc

from o2o_identity.api.credentials import CredentialsApi
from o2o_identity.api.members import MembersApi
from o2o_identity.api.relations import RelationsApi
from o2o_identity.api.staff import StaffApi
from o2o_identity.api.stores import StoresApi
from o2o_identity.api.tokens import TokensApi
from o2o_identity.app import Identity


class IdentityApi(
    StoresApi,
    MembersApi,
    StaffApi,
    RelationsApi,
    CredentialsApi,
    TokensApi,
    identity_pb2_grpc.IdentityServiceServicer,
):
    def __init__(self, identity: Identity) -> None:
        self.stores = identity.stores
        self.members = identity.members
        self.payment_accounts = identity.payment_accounts
        self.consents = identity.consents
        self.erasure = identity.erasure
        self.staff = identity.staff
        self.advisors = identity.advisors
        self.friends = identity.friends
        self.credentials = identity.credentials
        self.sign_in = identity.sign_in
        self.signing_keys = identity.signing_keys

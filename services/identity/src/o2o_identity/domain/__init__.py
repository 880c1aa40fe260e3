"""Identity's rules by area, as plain functions and values: no I/O, no gRPC, no SQL.

stores: who may act on which store; members: profiles and what a valid one is; consent;
staff: roles and who may create whom; relations: advisors and friends; credentials: secrets,
API keys and sign-in throttling; tokens: signing-key lifetimes; erasure: what forgetting a
member clears.
"""

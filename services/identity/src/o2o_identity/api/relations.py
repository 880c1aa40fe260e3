"""Advisors and friends over gRPC."""

from __future__ import annotations

from typing import Any

from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.auth import current_principal
from o2o_runtime.validation import Violations

from o2o_identity.api.mapping import advisor_pb, friend_pb, page_of
from o2o_identity.app.relations import Advisors, Friends
from o2o_identity.domain.relations import AdvisorBinding, Friendship


def _friendship(request: pb.AddFriendRequest | pb.RemoveFriendRequest) -> Friendship:
    v = Violations()
    v.resource_id("member_id", request.member_id)
    v.resource_id("friend_member_id", request.friend_member_id)
    v.raise_if_any()
    return Friendship(request.member_id, request.friend_member_id)


class RelationsApi:
    advisors: Advisors
    friends: Friends

    async def BindAdvisor(self, request: pb.BindAdvisorRequest, context: Any) -> pb.BindAdvisorResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.resource_id("staff_id", request.staff_id)
        v.resource_id("store_id", request.store_id, required=False)
        v.raise_if_any()
        binding = AdvisorBinding(request.member_id, request.staff_id, request.store_id)
        row, changed = await self.advisors.bind(current_principal(), binding)
        return pb.BindAdvisorResponse(binding=advisor_pb(row), changed=changed)

    async def GetAdvisor(self, request: pb.GetAdvisorRequest, context: Any) -> pb.GetAdvisorResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        return pb.GetAdvisorResponse(binding=advisor_pb(await self.advisors.get(request.member_id)))

    async def ListAdvisedMembers(
        self, request: pb.ListAdvisedMembersRequest, context: Any
    ) -> pb.ListAdvisedMembersResponse:
        v = Violations()
        v.resource_id("staff_id", request.staff_id)
        v.raise_if_any()
        page = await self.advisors.advised(request.staff_id, page_of(request, request.staff_id))
        return pb.ListAdvisedMembersResponse(
            bindings=[advisor_pb(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def AddFriend(self, request: pb.AddFriendRequest, context: Any) -> pb.AddFriendResponse:
        return pb.AddFriendResponse(link=friend_pb(await self.friends.add(_friendship(request))))

    async def RemoveFriend(self, request: pb.RemoveFriendRequest, context: Any) -> pb.RemoveFriendResponse:
        await self.friends.remove(_friendship(request))
        return pb.RemoveFriendResponse()

    async def ListFriends(self, request: pb.ListFriendsRequest, context: Any) -> pb.ListFriendsResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        page = await self.friends.of(request.member_id, page_of(request, request.member_id))
        return pb.ListFriendsResponse(links=[friend_pb(r) for r in page.items], next_page_token=page.next_page_token)

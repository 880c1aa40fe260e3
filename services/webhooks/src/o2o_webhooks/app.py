"""Webhooks' use cases, wired once over one set of units of work: a partner's subscriptions
(subscriptions.py), events routed to deliveries (routing.py), deliveries sent (sending.py)."""

from __future__ import annotations

import httpx
from o2o_runtime.crypto import fernet_for
from o2o_runtime.db import Database
from o2o_runtime.uow import UnitsOfWork

from o2o_webhooks.repository import Repository
from o2o_webhooks.sending import Sender
from o2o_webhooks.settings import WebhooksSettings
from o2o_webhooks.subscriptions import Subscriptions

PRODUCER = "webhooks"


class Webhooks:
    def __init__(self, database: Database, settings: WebhooksSettings, client: httpx.AsyncClient) -> None:
        self.uow = UnitsOfWork(database, PRODUCER, Repository)
        # Signing secrets must be read back to sign each delivery, so they are encrypted, not hashed.
        secrets = fernet_for(settings.secret_key.get_secret_value().encode(), "webhook-signing-secrets")
        self.subscriptions = Subscriptions(self.uow, settings, secrets)
        self.sender = Sender(self.uow, settings, client, secrets)

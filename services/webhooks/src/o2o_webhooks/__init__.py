"""Webhooks: platform events pushed to partners' URLs, signed and retried (o2o.webhooks.v1)."""

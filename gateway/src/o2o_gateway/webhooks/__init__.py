"""Partner webhooks: a gRPC service of its own (o2o.webhooks.v1), so the HTTP side stays stateless."""

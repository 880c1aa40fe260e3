"""Generated protobuf and gRPC stubs for the o2o.* packages in protos/."""

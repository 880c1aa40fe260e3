"""The one test harness: real servers on free ports, real gRPC channels, SQLite and PostgreSQL.

Registered as a pytest plugin (entry point `pytest11`), so every service's tests get the
`platform` fixture: a session-wide set of service processes with NATS JetStream, once per
database backend.
"""

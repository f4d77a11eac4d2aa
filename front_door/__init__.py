"""The front door every way in shares: the HTTP API and the tenants' Kafka ingress. Who a token or
key is (credentials, directory, kept fresh by feed; fleet keeps replicas one platform), the
limits (shared_limits over PostgreSQL, limits while it is away), the checks of a call
(call_checks) and its placing, one (single_call) or many (many_calls), the refusals as values
(problems), the read-your-writes context, idempotency and the SQL the API reads with (queries,
paging). No FastAPI: a worker loads none of it."""

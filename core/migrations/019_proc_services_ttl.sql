-- proc_services.code_ttl_minutes was written and never read: a call's validity travels in its
-- own request (CallRequested.code_ttl_minutes). Expand now: the decisions of 0.2.0 stop
-- writing it, so it may be empty; 0.1.0's decisions, still running during an upgrade, keep
-- writing it. Contract in the next release, once no 0.1.0 process can run: drop the column
-- (CHANGELOG.md).
ALTER TABLE proc_services ALTER COLUMN code_ttl_minutes DROP NOT NULL;

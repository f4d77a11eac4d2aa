"""What every consumer of the platform runs on, whichever package it is in (processors,
projections) and whatever the API reads of it: batches applied in one transaction with their
offsets (batches), the outbox that publishes what a batch emitted (outbox), what a failure
costs (failures), the partitioned consumer itself (partitioned), and the tenants' own topics
(stream_topics). It imports only core, schemas and producers."""

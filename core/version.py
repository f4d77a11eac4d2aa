"""flashcall's version: semantic versioning (CHANGELOG.md), read by the packaging, `flashcall
--version`, the `flashcall_build_info` metric and the OpenAPI document.

MAJOR changes what a client, an analyst or an operator must change (the HTTP contract, an event
schema incompatibly, a step an upgrade cannot take with calls flowing); MINOR adds; PATCH fixes.
"""

VERSION = "0.2.0"

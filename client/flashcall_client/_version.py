"""The client's version (semantic versioning; CHANGELOG.md at the repository's root)."""

VERSION = "0.2.0"

"""The chaos run: real processes under faults, then invariants checked against the store."""

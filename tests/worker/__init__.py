"""Tests of the workers: running, progress, cancellation, timeouts, leases and rescue, real processes."""

"""The two ways the guard says no: refused (not retryable) and failed in transit (retryable)."""

from __future__ import annotations


class UnsafeURLError(ValueError):
    """A URL or request refused by the SSRF guard; the message says why. Not retryable."""


class DeliveryError(Exception):
    """A transport failure (DNS, connect, TLS, timeout, dropped connection); retryable."""


class ResponseTooLargeError(DeliveryError):
    """A response body over the caller's bound (async path); the rest was never read."""

"""Destination clients: one class per email platform behind the `Destination` protocol.

The diff/state layer decides *what* to send (adds, updates, removes); these classes only know *how* to
deliver it to one platform and report per-row outcomes. Importing this package does not import httpx
clients for every platform: import the module of the platform you use.
"""

from orchestration.syncs.destinations.base import (
    Contact,
    DeliveryResult,
    Destination,
    DestinationAuthError,
    DestinationError,
    DestinationUnavailableError,
    RowError,
    Unsubscribe,
)

__all__ = [
    "Contact",
    "DeliveryResult",
    "Destination",
    "DestinationAuthError",
    "DestinationError",
    "DestinationUnavailableError",
    "RowError",
    "Unsubscribe",
]

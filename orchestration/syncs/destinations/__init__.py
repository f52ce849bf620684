"""Destination clients: one module per email platform, its client behind the `Destination` protocol.

The diff/state layer decides *what* to send (adds, updates, removes); these classes only know *how* to
deliver it to one platform and report per-row outcomes. Each platform module (`mailchimp`, `sendgrid`,
`unisender`, `file`) also declares its `SPEC` (`spec.DestinationSpec`: target keys, options,
environment variables, defaults, how to build the client), listed once in `registry`. The HTTP
clients share `http.HttpDestination` (connection pool, retries, the refused-key check).
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

"""The destinations a sync can use: one line per platform module, in the order messages list them.

`orchestration.syncs.config.destination_spec` looks a name up here and refuses unknown ones.
"""

from __future__ import annotations

from orchestration.syncs.destinations import file, mailchimp, sendgrid, unisender
from orchestration.syncs.destinations.spec import DestinationSpec

REGISTRY: dict[str, DestinationSpec] = {
    spec.name: spec
    for spec in (
        mailchimp.SPEC,
        sendgrid.SPEC,
        unisender.SPEC,
        file.SPEC,
    )
}

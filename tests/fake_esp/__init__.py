"""Local fake servers for Mailchimp, SendGrid and Unisender that enforce each API's documented contract.

The platforms cannot be reached from CI or developer machines, so the destination clients are tested
against these instead of mocks: a mock accepts anything, these reject what the real API would reject.
`tests.fake_esp.warehouse` is the other side of a sync: a minimal warehouse with the tables it reads.
"""

from tests.fake_esp.common import FakeServer, Injected
from tests.fake_esp.mailchimp import FakeMailchimp
from tests.fake_esp.sendgrid import FakeSendGrid
from tests.fake_esp.unisender import FakeUnisender

__all__ = ["FakeMailchimp", "FakeSendGrid", "FakeServer", "FakeUnisender", "Injected"]

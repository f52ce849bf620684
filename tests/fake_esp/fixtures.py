"""pytest fixtures: one freshly started fake server per test, stopped afterwards.

Load with `pytest_plugins = ["tests.fake_esp.fixtures"]` (in a test module or the root conftest).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_esp.mailchimp import FakeMailchimp
from tests.fake_esp.sendgrid import FakeSendGrid
from tests.fake_esp.unisender import FakeUnisender


@pytest.fixture
def fake_mailchimp() -> Iterator[FakeMailchimp]:
    server = FakeMailchimp()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_sendgrid() -> Iterator[FakeSendGrid]:
    server = FakeSendGrid()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_unisender() -> Iterator[FakeUnisender]:
    server = FakeUnisender()
    server.start()
    yield server
    server.stop()

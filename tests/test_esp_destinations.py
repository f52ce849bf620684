"""Destination clients against strict local fakes of Mailchimp, SendGrid and Unisender (tests/fake_esp).

Time is simulated: every client gets `FakeTime.sleep`/`FakeTime.clock`, so retries and polling record
the waits they would make without making them, and a whole platform suite runs in a few seconds.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from orchestration.syncs.destinations.base import (
    Contact,
    Destination,
    DestinationAuthError,
    DestinationError,
    DestinationUnavailableError,
    RowError,
    Unsubscribe,
)
from orchestration.syncs.destinations.file import FileDestination
from orchestration.syncs.destinations.http import HttpDestination
from orchestration.syncs.destinations.mailchimp import MailchimpDestination, api_root, base_url_for_key
from orchestration.syncs.destinations.retry import (
    Retrier,
    RetriesExhausted,
    RetryPolicy,
    retry_after_seconds,
    server_requested_wait,
)
from orchestration.syncs.destinations.sendgrid import SendGridDestination
from orchestration.syncs.destinations.unisender import UnisenderDestination
from tests.fake_esp import FakeMailchimp, FakeSendGrid, FakeUnisender, Injected

pytest_plugins = ["tests.fake_esp.fixtures"]

FAST = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.01)
TAG = "rfm:champions"
SG_LIST = "list-rfm-champions"
NOW = 1_700_000_000.0


class FakeTime:
    """Records requested sleeps and advances a simulated clock by them."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def people(n: int, domain: str = "example.com") -> list[str]:
    return [f"person{i:04d}@{domain}" for i in range(n)]


# --- Mailchimp ------------------------------------------------------------------------------------


def mailchimp(fake: FakeMailchimp, clock: FakeTime, **kwargs: object) -> MailchimpDestination:
    options: dict = {"retry": FAST, "sleep": clock.sleep, "clock": clock.clock, **kwargs}
    api_key = options.pop("api_key", fake.api_key)
    return MailchimpDestination(str(api_key), fake.list_id, TAG, base_url=f"{fake.url}/3.0", **options)


def mc_contacts(emails: list[str]) -> list[Contact]:
    return [
        Contact(e, {"FNAME": f"F{i}", "CITY": "Lyon", "RFM_SEGMENT": "champions"})
        for i, e in enumerate(emails)
    ]


def test_mailchimp_first_upsert_of_1234_lands_exactly_the_segment(
    fake_mailchimp: FakeMailchimp, clock: FakeTime
):
    emails = people(1234)
    with mailchimp(fake_mailchimp, clock) as destination:
        result = destination.upsert(mc_contacts(emails))

    assert result.upserted == emails
    assert result.errors == [] and result.removed == []
    assert fake_mailchimp.tagged(TAG) == set(emails)
    assert fake_mailchimp.member("person0007@example.com").merge_fields == {
        "FNAME": "F7",
        "CITY": "Lyon",
        "RFM_SEGMENT": "champions",
    }
    assert {m.status for m in fake_mailchimp.members.values()} == {"subscribed"}
    assert sorted(fake_mailchimp.batch_sizes) == [234, 500, 500]
    assert fake_mailchimp.max_batch_seen <= 500
    assert 1 < fake_mailchimp.max_in_flight <= 10
    assert fake_mailchimp.concurrency_rejections == 0
    assert fake_mailchimp.violations == []
    assert clock.sleeps == []


def test_mailchimp_remove_untags_without_touching_subscription(
    fake_mailchimp: FakeMailchimp, clock: FakeTime
):
    fake_mailchimp.add_member("keep@example.com", "subscribed", tags={TAG})
    fake_mailchimp.add_member("drop@example.com", "subscribed", tags={TAG, "vip"})
    fake_mailchimp.add_member("optout@example.com", "unsubscribed", tags={TAG})

    with mailchimp(fake_mailchimp, clock) as destination:
        result = destination.remove(["Drop@Example.com", "optout@example.com", "never-member@example.com"])

    assert result.removed == ["Drop@Example.com", "optout@example.com", "never-member@example.com"]
    assert result.errors == []
    assert fake_mailchimp.tagged(TAG) == {"keep@example.com"}
    assert fake_mailchimp.member("drop@example.com").tags == {"vip"}
    assert fake_mailchimp.member("drop@example.com").status == "subscribed"
    assert fake_mailchimp.member("optout@example.com").status == "unsubscribed"
    assert len(fake_mailchimp.members) == 3  # nobody deleted, nobody created
    assert fake_mailchimp.violations == []


def test_mailchimp_unsubscribed_and_cleaned_members_stay_opted_out(
    fake_mailchimp: FakeMailchimp, clock: FakeTime
):
    fake_mailchimp.add_member("gone@example.com", "unsubscribed", {"FNAME": "Old"})
    fake_mailchimp.add_member("bounced@example.com", "cleaned")

    with mailchimp(fake_mailchimp, clock) as destination:
        result = destination.upsert(
            mc_contacts(["gone@example.com", "bounced@example.com", "new@example.com"])
        )

    assert result.upserted == ["gone@example.com", "bounced@example.com", "new@example.com"]
    assert fake_mailchimp.member("gone@example.com").status == "unsubscribed"
    assert fake_mailchimp.member("gone@example.com").merge_fields["FNAME"] == "F0"
    assert fake_mailchimp.member("bounced@example.com").status == "cleaned"
    assert fake_mailchimp.member("new@example.com").status == "subscribed"
    assert fake_mailchimp.violations == []


def test_mailchimp_per_member_errors_come_back_while_the_rest_lands(
    fake_mailchimp: FakeMailchimp, clock: FakeTime
):
    emails = ["a@example.com", "fake1@invalid.test", "b@example.com", "fake2@invalid.test"]
    with mailchimp(fake_mailchimp, clock) as destination:
        result = destination.upsert(mc_contacts(emails))

    assert result.upserted == ["a@example.com", "b@example.com"]
    assert result.errors == [
        RowError(
            "fake1@invalid.test",
            "upsert",
            "fake1@invalid.test looks fake or invalid, please enter a real email address.",
        ),
        RowError(
            "fake2@invalid.test",
            "upsert",
            "fake2@invalid.test looks fake or invalid, please enter a real email address.",
        ),
    ]
    assert fake_mailchimp.tagged(TAG) == {"a@example.com", "b@example.com"}


def test_mailchimp_429_waits_for_retry_after_then_succeeds(fake_mailchimp: FakeMailchimp, clock: FakeTime):
    fake_mailchimp.inject(Injected(429, headers={"Retry-After": "3"}))
    with mailchimp(fake_mailchimp, clock) as destination:
        result = destination.upsert(mc_contacts(["a@example.com"]))

    assert clock.sleeps == [3.0]
    assert result.upserted == ["a@example.com"]
    assert fake_mailchimp.tagged(TAG) == {"a@example.com"}


def test_mailchimp_5xx_twice_then_success(fake_mailchimp: FakeMailchimp, clock: FakeTime):
    fake_mailchimp.inject(Injected(503), Injected(500))
    with mailchimp(fake_mailchimp, clock) as destination:
        result = destination.upsert(mc_contacts(["a@example.com", "b@example.com"]))

    assert result.upserted == ["a@example.com", "b@example.com"]
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.001 and 0 <= clock.sleeps[1] <= 0.002  # full jitter under the caps
    assert len(fake_mailchimp.requests_to("POST", f"/lists/{fake_mailchimp.list_id}")) == 3 + 2


def test_mailchimp_persistent_5xx_reports_what_was_and_was_not_delivered(
    fake_mailchimp: FakeMailchimp, clock: FakeTime
):
    fake_mailchimp.inject(*[Injected(503) for _ in range(5)])
    emails = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    # One connection and two-member batches make the order deterministic: the first batch eats the 503s.
    destination = mailchimp(fake_mailchimp, clock, batch_size=2, max_connections=1)
    with destination, pytest.raises(DestinationUnavailableError) as caught:
        destination.upsert(mc_contacts(emails))

    error = caught.value
    assert str(error) == (
        "mailchimp: upsert gave up after retries (5 attempt(s), last: HTTP 503): 2 of 4 contacts delivered, "
        "0 rejected by the provider, 2 not delivered (safe to re-send: every operation is idempotent)"
    )
    assert error.undelivered == ["a@example.com", "b@example.com"]
    assert error.partial.upserted == ["c@example.com", "d@example.com"]
    assert fake_mailchimp.tagged(TAG) == {"c@example.com", "d@example.com"}
    assert len(clock.sleeps) == 4


def test_mailchimp_bad_key_raises_auth_error_without_the_key(fake_mailchimp: FakeMailchimp, clock: FakeTime):
    wrong_key = "ffffffffffffffffffffffffffffffff-us10"
    destination = mailchimp(fake_mailchimp, clock, api_key=wrong_key)
    with destination, pytest.raises(DestinationAuthError) as caught:
        destination.upsert(mc_contacts(["a@example.com"]))

    message = str(caught.value)
    assert message.startswith("mailchimp: the API key was refused (HTTP 401: API Key Invalid")
    assert wrong_key not in message and wrong_key not in repr(destination)
    assert "api_key='***'" in repr(destination)
    assert len(fake_mailchimp.requests) == 1  # auth errors are not retried
    assert fake_mailchimp.members == {}


def test_mailchimp_bare_403_is_throttling_but_problem_403_is_auth(
    fake_mailchimp: FakeMailchimp, clock: FakeTime
):
    fake_mailchimp.inject(Injected(403, payload="bare"), Injected(403, payload="bare"))
    with mailchimp(fake_mailchimp, clock) as destination:
        assert destination.upsert(mc_contacts(["a@example.com"])).upserted == ["a@example.com"]
        assert len(clock.sleeps) == 2

        fake_mailchimp.inject(Injected(403))  # a problem+json 403: a permission answer
        with pytest.raises(DestinationAuthError, match=r"^mailchimp: the API key was refused \(HTTP 403"):
            destination.remove(["a@example.com"])
    assert len(clock.sleeps) == 2


def test_mailchimp_timeout_is_retried(fake_mailchimp: FakeMailchimp, clock: FakeTime):
    fake_mailchimp.inject(Injected(delay=0.6, passthrough=True))
    with mailchimp(fake_mailchimp, clock, timeout=0.2) as destination:
        result = destination.upsert(mc_contacts(["a@example.com"]))

    assert result.upserted == ["a@example.com"]
    assert len(clock.sleeps) == 1
    assert fake_mailchimp.tagged(TAG) == {"a@example.com"}


def test_mailchimp_fetch_unsubscribes_since(fake_mailchimp: FakeMailchimp, clock: FakeTime):
    fake_mailchimp.add_member("old@example.com", "unsubscribed", last_changed="2024-01-05T10:00:00+00:00")
    fake_mailchimp.add_member("gone@example.com", "unsubscribed", last_changed="2024-05-01T08:30:00+00:00")
    fake_mailchimp.add_member("bounced@example.com", "cleaned", last_changed="2024-06-10T00:00:00+00:00")
    fake_mailchimp.add_member("happy@example.com", "subscribed", last_changed="2024-06-11T00:00:00+00:00")

    with mailchimp(fake_mailchimp, clock) as destination:
        found = destination.fetch_unsubscribes(since=datetime(2024, 3, 1, tzinfo=UTC))

    assert found == [
        Unsubscribe("gone@example.com", datetime(2024, 5, 1, 8, 30, tzinfo=UTC), "unsubscribed"),
        Unsubscribe("bounced@example.com", datetime(2024, 6, 10, tzinfo=UTC), "cleaned"),
    ]


def test_fake_mailchimp_enforces_its_contract(fake_mailchimp: FakeMailchimp):
    """The fake must reject what Mailchimp rejects, or the client tests above prove nothing."""
    auth = ("any", fake_mailchimp.api_key)
    url = f"{fake_mailchimp.url}/3.0/lists/{fake_mailchimp.list_id}"
    too_many = {
        "members": [{"email_address": f"p{i}@example.com", "status_if_new": "subscribed"} for i in range(501)]
    }
    answer = httpx.post(url, json=too_many, auth=auth)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["errors"] == [
        {"field": "members", "message": "Schema describes array, max 500 items."}
    ]

    assert httpx.post(url, json={"members": [], "bogus": 1}, auth=auth).json()["errors"] == [
        {"field": "bogus", "message": "Unknown field."}
    ]
    assert httpx.post(url, json={"members": []}, auth=("any", "wrong")).status_code == 401

    fake_mailchimp.add_member("gone@example.com", "unsubscribed")
    resubscribe = {
        "members": [{"email_address": "gone@example.com", "status": "subscribed"}],
        "update_existing": True,
    }
    assert httpx.post(url, json=resubscribe, auth=auth).status_code == 200
    assert fake_mailchimp.violations == ["gone@example.com: unsubscribed -> subscribed"]

    # 15 open connections fire together while each request takes 0.3 s: more than 10 are in flight.
    clients = [httpx.Client(auth=auth, timeout=10) for _ in range(15)]
    for client in clients:
        client.get(f"{url}/members")  # connect first, so the burst below is only the requests
    fake_mailchimp.latency = 0.3
    barrier = threading.Barrier(15)
    statuses: list[int] = []

    def call(client: httpx.Client) -> None:
        barrier.wait()
        statuses.append(client.get(f"{url}/members").status_code)

    threads = [threading.Thread(target=call, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    assert statuses.count(429) == fake_mailchimp.concurrency_rejections >= 1
    assert statuses.count(200) + statuses.count(429) == 15


def test_mailchimp_unknown_audience_is_a_configuration_error(fake_mailchimp: FakeMailchimp, clock: FakeTime):
    destination = MailchimpDestination(
        fake_mailchimp.api_key,
        "nope",
        TAG,
        base_url=f"{fake_mailchimp.url}/3.0",
        retry=FAST,
        sleep=clock.sleep,
    )
    with (
        destination,
        pytest.raises(DestinationError, match=r"^mailchimp: audience 'nope' not found: Resource"),
    ):
        destination.upsert(mc_contacts(["a@example.com"]))


def test_mailchimp_base_url_comes_from_the_key_suffix():
    assert base_url_for_key("0123abcd-us10") == "https://us10.api.mailchimp.com/3.0"
    with pytest.raises(ValueError, match="data-centre suffix"):
        base_url_for_key("0123abcd")


def test_mailchimp_api_url_without_3_0_gets_it(fake_mailchimp: FakeMailchimp, clock: FakeTime):
    """MAILCHIMP_API_URL as a bare host would make every call a 404: /3.0 is appended to it."""
    assert api_root("https://us10.api.mailchimp.com") == "https://us10.api.mailchimp.com/3.0"
    assert api_root("https://us10.api.mailchimp.com/3.0/") == "https://us10.api.mailchimp.com/3.0"
    assert api_root("https://proxy.example/mailchimp") == "https://proxy.example/mailchimp"  # as given
    destination = MailchimpDestination(
        fake_mailchimp.api_key,
        fake_mailchimp.list_id,
        TAG,
        base_url=f"{fake_mailchimp.url}/",
        sleep=clock.sleep,
    )
    with destination:
        result = destination.upsert(mc_contacts(["a@example.com"]))
    assert (result.upserted, result.errors) == (["a@example.com"], [])
    assert fake_mailchimp.tagged(TAG) == {"a@example.com"}


# --- SendGrid -------------------------------------------------------------------------------------


def sendgrid(fake: FakeSendGrid, clock: FakeTime, **kwargs: object) -> SendGridDestination:
    options: dict = {"retry": FAST, "sleep": clock.sleep, "clock": clock.clock, **kwargs}
    api_key = options.pop("api_key", fake.api_key)
    fake.now = clock.clock  # the fake's X-RateLimit-Reset follows the simulated time
    return SendGridDestination(str(api_key), SG_LIST, base_url=fake.url, **options)


def sg_contacts(emails: list[str]) -> list[Contact]:
    return [
        Contact(e, {"first_name": f"F{i}", "city": "Lyon", "RFM_SEGMENT": "champions", "ORDERS": i})
        for i, e in enumerate(emails)
    ]


def test_sendgrid_first_upsert_of_1234_lands_and_polls_the_job(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    emails = people(1234)
    with sendgrid(fake_sendgrid, clock) as destination:
        result = destination.upsert(sg_contacts(emails))

    assert result.upserted == emails and result.errors == []
    assert fake_sendgrid.on_list(SG_LIST) == set(emails)
    contact = fake_sendgrid.contacts["person0042@example.com"]
    assert (contact["first_name"], contact["city"]) == ("F42", "Lyon")
    assert contact["custom_fields"] == {"e1_T": "champions", "e2_N": 42}
    assert fake_sendgrid.upsert_sizes == [1234]
    assert max(fake_sendgrid.body_sizes) <= 6_000_000
    assert fake_sendgrid.polls == 2  # pending once, then completed
    assert clock.sleeps == [2.0]  # one poll interval


def test_sendgrid_splits_by_contact_count(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    emails = people(1234)
    with sendgrid(fake_sendgrid, clock, max_contacts_per_request=500) as destination:
        result = destination.upsert(sg_contacts(emails))

    assert len(result.upserted) == 1234
    assert sorted(fake_sendgrid.upsert_sizes) == [234, 500, 500]
    assert fake_sendgrid.on_list(SG_LIST) == set(emails)


def test_sendgrid_splits_requests_at_6_mb(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    big = [Contact(f"big{i:02d}@example.com", {"RFM_SEGMENT": f"{i:02d}" + "x" * 200_000}) for i in range(40)]
    with sendgrid(fake_sendgrid, clock) as destination:
        result = destination.upsert(big)

    assert len(result.upserted) == 40
    assert len(fake_sendgrid.body_sizes) == 2
    assert all(size <= 6_000_000 for size in fake_sendgrid.body_sizes)
    assert sum(fake_sendgrid.upsert_sizes) == 40
    assert fake_sendgrid.contacts["big07@example.com"]["custom_fields"]["e1_T"] == "07" + "x" * 200_000


def test_sendgrid_remove_takes_contacts_off_the_list_only(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    for email in ("keep@example.com", "drop@example.com", "also@example.com"):
        fake_sendgrid.add_contact(email, {SG_LIST})
    fake_sendgrid.global_unsubscribes["also@example.com"] = 1_690_000_000

    with sendgrid(fake_sendgrid, clock) as destination:
        result = destination.remove(["Drop@example.com", "also@example.com", "stranger@example.com"])

    assert result.removed == ["Drop@example.com", "also@example.com", "stranger@example.com"]
    assert result.errors == []
    assert fake_sendgrid.on_list(SG_LIST) == {"keep@example.com"}
    assert set(fake_sendgrid.contacts) == {"keep@example.com", "drop@example.com", "also@example.com"}
    assert fake_sendgrid.global_unsubscribes == {"also@example.com": 1_690_000_000}
    assert fake_sendgrid.violations == []


def test_sendgrid_globally_unsubscribed_contact_stays_suppressed(
    fake_sendgrid: FakeSendGrid, clock: FakeTime
):
    fake_sendgrid.global_unsubscribes["gone@example.com"] = 1_690_000_000
    with sendgrid(fake_sendgrid, clock) as destination:
        result = destination.upsert(sg_contacts(["gone@example.com"]))

    assert result.upserted == ["gone@example.com"]
    assert fake_sendgrid.global_unsubscribes == {"gone@example.com": 1_690_000_000}
    assert fake_sendgrid.violations == []


def test_sendgrid_row_errors_come_back_while_the_rest_lands(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    emails = [
        "a@example.com",
        "bad@invalid.test",
        "b@example.com",
        "late@jobreject.test",
        "worse@invalid.test",
    ]
    with sendgrid(fake_sendgrid, clock) as destination:
        result = destination.upsert(sg_contacts(emails))

    assert result.upserted == ["a@example.com", "b@example.com"]
    bad, late, worse = result.errors  # in the order the caller sent them
    assert bad == RowError("bad@invalid.test", "upsert", "email address is invalid")
    assert worse == RowError("worse@invalid.test", "upsert", "email address is invalid")
    assert (late.email, late.operation) == ("late@jobreject.test", "upsert")
    assert late.reason.startswith("rejected by import job ") and late.reason.endswith("(see its errors_url)")
    assert fake_sendgrid.upsert_sizes == [5, 3]  # the whole batch, then the batch without the named rows
    assert fake_sendgrid.on_list(SG_LIST) == {"a@example.com", "b@example.com"}


def test_sendgrid_429_waits_until_rate_limit_reset(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    reset = {"X-RateLimit-Reset": str(int(NOW) + 7), "X-RateLimit-Remaining": "0"}
    fake_sendgrid.inject(Injected(429, headers=reset, path_contains="/v3/marketing/contacts"))
    with sendgrid(fake_sendgrid, clock) as destination:
        result = destination.upsert(sg_contacts(["a@example.com"]))

    assert result.upserted == ["a@example.com"]
    assert clock.sleeps == [7.0, 2.0]  # the reset wait, then one job poll interval


def test_sendgrid_pauses_when_the_quota_is_used_up(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    quota_gone = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 5)}
    fake_sendgrid.inject(Injected(passthrough=True, headers=quota_gone, path_contains="field_definitions"))
    with sendgrid(fake_sendgrid, clock) as destination:
        result = destination.upsert(sg_contacts(["a@example.com"]))

    assert result.upserted == ["a@example.com"]
    assert clock.sleeps == [5.0, 2.0]  # waited for the window before the PUT, then polled


def test_sendgrid_5xx_twice_then_success(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    fake_sendgrid.inject(*[Injected(status, path_contains="/v3/marketing/contacts") for status in (500, 502)])
    with sendgrid(fake_sendgrid, clock) as destination:
        result = destination.upsert(sg_contacts(["a@example.com", "b@example.com"]))

    assert result.upserted == ["a@example.com", "b@example.com"]
    assert len(fake_sendgrid.requests_to("PUT", "/v3/marketing/contacts")) == 3
    assert fake_sendgrid.on_list(SG_LIST) == {"a@example.com", "b@example.com"}


def test_sendgrid_persistent_5xx_raises_with_counts(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    fake_sendgrid.inject(*[Injected(503, path_contains="/v3/marketing/contacts") for _ in range(5)])
    with sendgrid(fake_sendgrid, clock) as destination, pytest.raises(DestinationUnavailableError) as caught:
        destination.upsert(sg_contacts(["a@example.com", "b@example.com", "c@example.com"]))

    assert "sendgrid: upsert gave up after retries (5 attempt(s), last: HTTP 503)" in str(caught.value)
    assert "0 of 3 contacts delivered, 0 rejected by the provider, 3 not delivered" in str(caught.value)
    assert caught.value.undelivered == ["a@example.com", "b@example.com", "c@example.com"]
    assert fake_sendgrid.contacts == {}


def test_sendgrid_bad_key_raises_auth_error_without_the_key(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    wrong_key = "SG.wrong-key.abcdef"
    destination = sendgrid(fake_sendgrid, clock, api_key=wrong_key)
    with destination, pytest.raises(DestinationAuthError) as caught:
        destination.upsert(sg_contacts(["a@example.com"]))

    assert str(caught.value) == "sendgrid: the API key was refused (HTTP 401: authorization required)"
    assert wrong_key not in repr(destination)


def test_sendgrid_undefined_custom_field_fails_before_sending(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    with sendgrid(fake_sendgrid, clock) as destination, pytest.raises(DestinationError) as caught:
        destination.upsert([Contact("a@example.com", {"LOYALTY_TIER": "gold", "RFM_SEGMENT": "x"})])

    assert str(caught.value) == (
        "sendgrid: custom fields not defined in SendGrid (create them first): LOYALTY_TIER"
    )
    assert fake_sendgrid.requests_to("PUT", "/v3/marketing/contacts") == []


def test_sendgrid_concurrency_stays_within_the_setting(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    emails = people(1234)
    for email in emails:
        fake_sendgrid.add_contact(email, {SG_LIST})
    with sendgrid(fake_sendgrid, clock, max_connections=4) as destination:
        result = destination.remove(emails)

    assert len(result.removed) == 1234
    assert fake_sendgrid.on_list(SG_LIST) == set()
    assert max(fake_sendgrid.search_sizes) == 100 and len(fake_sendgrid.search_sizes) == 13
    assert 1 < fake_sendgrid.max_in_flight <= 4


def test_fake_sendgrid_enforces_its_contract(fake_sendgrid: FakeSendGrid):
    headers = {"Authorization": f"Bearer {fake_sendgrid.api_key}"}
    url = f"{fake_sendgrid.url}/v3/marketing/contacts"
    too_many = {"contacts": [{"email": f"p{i}@example.com"} for i in range(30_001)]}
    assert httpx.put(url, json=too_many, headers=headers).json() == {
        "errors": [{"field": "contacts", "message": "at most 30000 contacts per request"}]
    }
    too_big = {"contacts": [{"email": "a@example.com", "first_name": "x" * 6_000_000}]}
    assert httpx.put(url, json=too_big, headers=headers).status_code == 413
    unknown = {
        "contacts": [{"email": "a@example.com", "favourite_colour": "red", "custom_fields": {"RFM": "x"}}]
    }
    assert httpx.put(url, json=unknown, headers=headers).json() == {
        "errors": [
            {"field": "contacts[0].favourite_colour", "message": "unknown field"},
            {"field": "contacts[0].custom_fields", "message": "invalid custom field ids supplied"},
        ]
    }
    search = {"emails": [f"p{i}@example.com" for i in range(101)]}
    assert httpx.post(f"{url}/search/emails", json=search, headers=headers).status_code == 400
    answer = httpx.put(url, json={"contacts": [{"email": "a@example.com"}]})
    assert (answer.status_code, answer.json()) == (
        401,
        {"errors": [{"field": None, "message": "authorization required"}]},
    )
    assert set(answer.headers) >= {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}
    assert fake_sendgrid.contacts == {}


def test_sendgrid_fetch_unsubscribes(fake_sendgrid: FakeSendGrid, clock: FakeTime):
    fake_sendgrid.global_unsubscribes.update(
        {"old@example.com": 1_600_000_000, "gone@example.com": 1_700_000_100}
    )
    fake_sendgrid.spam_reports["angry@example.com"] = 1_700_000_050
    with sendgrid(fake_sendgrid, clock) as destination:
        found = destination.fetch_unsubscribes(since=datetime.fromtimestamp(1_650_000_000, UTC))

    assert found == [
        Unsubscribe("angry@example.com", datetime.fromtimestamp(1_700_000_050, UTC), "complained"),
        Unsubscribe("gone@example.com", datetime.fromtimestamp(1_700_000_100, UTC), "unsubscribed"),
    ]


# --- Unisender ------------------------------------------------------------------------------------


def unisender(fake: FakeUnisender, clock: FakeTime, **kwargs: object) -> UnisenderDestination:
    options: dict = {"retry": RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01), **kwargs}
    api_key = options.pop("api_key", fake.api_key)
    return UnisenderDestination(
        str(api_key), "101", base_url=fake.url, sleep=clock.sleep, clock=clock.clock, **options
    )


def uni_contacts(emails: list[str]) -> list[Contact]:
    return [Contact(e, {"Name": f"N{i}", "CITY": "Kazan"}) for i, e in enumerate(emails)]


def test_unisender_first_upsert_of_1234_lands_exactly_the_segment(
    fake_unisender: FakeUnisender, clock: FakeTime
):
    emails = people(1234)
    with unisender(fake_unisender, clock) as destination:
        result = destination.upsert(uni_contacts(emails))

    assert result.upserted == emails and result.errors == []
    assert fake_unisender.on_list("101") == set(emails)
    assert fake_unisender.contacts["person0042@example.com"].fields == {"Name": "N42", "CITY": "Kazan"}
    assert {c.status for c in fake_unisender.contacts.values()} == {"new"}
    assert sorted(fake_unisender.import_sizes) == [234, 500, 500]
    assert fake_unisender.double_optin_seen == []  # not sent unless configured (unconfirmed values)
    assert fake_unisender.violations == []  # in particular, the key never went into a URL
    assert fake_unisender.max_in_flight <= 4


def test_unisender_remove_excludes_without_unsubscribing(fake_unisender: FakeUnisender, clock: FakeTime):
    fake_unisender.add_contact("keep@example.com", "active", {"101"})
    fake_unisender.add_contact("drop@example.com", "active", {"101", "202"})
    fake_unisender.add_contact("elsewhere@example.com", "active", {"202"})

    with unisender(fake_unisender, clock) as destination:
        result = destination.remove(["drop@example.com", "elsewhere@example.com", "stranger@example.com"])

    assert result.removed == ["drop@example.com", "elsewhere@example.com", "stranger@example.com"]
    assert result.errors == []
    assert fake_unisender.on_list("101") == {"keep@example.com"}
    assert fake_unisender.contacts["drop@example.com"].lists == {"202"}
    assert fake_unisender.contacts["drop@example.com"].status == "active"
    assert fake_unisender.violations == []


def test_unisender_unsubscribed_contact_stays_unsubscribed(fake_unisender: FakeUnisender, clock: FakeTime):
    fake_unisender.add_contact("gone@example.com", "unsubscribed", set())
    with unisender(fake_unisender, clock) as destination:
        result = destination.upsert(uni_contacts(["gone@example.com"]))

    assert result.upserted == ["gone@example.com"]
    assert fake_unisender.contacts["gone@example.com"].status == "unsubscribed"
    assert fake_unisender.violations == []


def test_unisender_per_row_log_becomes_row_errors(fake_unisender: FakeUnisender, clock: FakeTime):
    with unisender(fake_unisender, clock) as destination:
        result = destination.upsert(uni_contacts(["a@example.com", "bad@invalid.test", "b@example.com"]))

    assert result.upserted == ["a@example.com", "b@example.com"]
    assert result.errors == [
        RowError("bad@invalid.test", "upsert", "invalid_email: Invalid email address «bad@invalid.test»")
    ]
    assert fake_unisender.on_list("101") == {"a@example.com", "b@example.com"}


def test_unisender_429_waits_for_retry_after(fake_unisender: FakeUnisender, clock: FakeTime):
    fake_unisender.inject(Injected(429, headers={"Retry-After": "4"}))
    with unisender(fake_unisender, clock) as destination:
        result = destination.upsert(uni_contacts(["a@example.com"]))

    assert result.upserted == ["a@example.com"]
    assert clock.sleeps == [4.0]


def test_unisender_5xx_twice_then_success(fake_unisender: FakeUnisender, clock: FakeTime):
    fake_unisender.inject(Injected(502), Injected(503))
    with unisender(fake_unisender, clock) as destination:
        result = destination.upsert(uni_contacts(["a@example.com"]))

    assert result.upserted == ["a@example.com"]
    assert len(fake_unisender.requests_to("POST", "importContacts")) == 3
    assert len(clock.sleeps) == 2


def test_unisender_persistent_5xx_raises_with_counts(fake_unisender: FakeUnisender, clock: FakeTime):
    fake_unisender.inject(*[Injected(503) for _ in range(3)])
    with (
        unisender(fake_unisender, clock) as destination,
        pytest.raises(DestinationUnavailableError) as caught,
    ):
        destination.upsert(uni_contacts(["a@example.com", "b@example.com"]))

    assert str(caught.value) == (
        "unisender: upsert gave up after retries (3 attempt(s), last: HTTP 503): 0 of 2 contacts delivered, "
        "0 rejected by the provider, 2 not delivered (safe to re-send: every operation is idempotent)"
    )
    assert fake_unisender.contacts == {}


def test_unisender_bad_key_raises_auth_error_without_the_key(fake_unisender: FakeUnisender, clock: FakeTime):
    wrong_key = "uni-wrong-key-000"
    destination = unisender(fake_unisender, clock, api_key=wrong_key)
    with destination, pytest.raises(DestinationAuthError) as caught:
        destination.remove(["a@example.com"])

    assert str(caught.value).startswith("unisender: the API key was refused (invalid_api_key: ")
    assert wrong_key not in str(caught.value) and wrong_key not in repr(destination)


def test_unisender_timeout_is_retried_and_concurrency_bounded(fake_unisender: FakeUnisender, clock: FakeTime):
    emails = people(200)
    for email in emails:
        fake_unisender.add_contact(email, "active", {"101"})
    # Wide margins: on a loaded machine a normal request must still finish within the timeout.
    fake_unisender.inject(Injected(delay=3.0, passthrough=True))
    with unisender(fake_unisender, clock, timeout=1.0, max_connections=3) as destination:
        result = destination.remove(emails)

    assert sorted(result.removed) == emails
    assert fake_unisender.on_list("101") == set()
    assert len(clock.sleeps) == 1
    assert 1 < fake_unisender.max_in_flight <= 3 + 1  # +1: the abandoned slow request still being served


def test_fake_unisender_enforces_its_contract(fake_unisender: FakeUnisender):
    url = f"{fake_unisender.url}/en/api/importContacts?format=json"
    form = {"api_key": fake_unisender.api_key, "field_names[0]": "email", "field_names[1]": "email_list_ids"}
    rows = {f"data[{i}][{j}]": v for i in range(501) for j, v in enumerate((f"p{i}@example.com", "101"))}
    assert httpx.post(url, data={**form, **rows}).json() == {
        "error": "Too many rows in data: 501, at most 500 per call",
        "code": "unspecified",
    }
    assert httpx.post(url, data={**form, "field_names[2]": "Shoe_size"}).json()["error"] == (
        "Unknown field names: Shoe_size"
    )
    assert httpx.post(url, data={**form, "api_key": "wrong"}).json()["code"] == "invalid_api_key"
    httpx.post(f"{url}&api_key={fake_unisender.api_key}", data=form)
    fake_unisender.add_contact("gone@example.com", "unsubscribed")
    reactivate = {
        **form,
        "field_names[2]": "email_status",
        "data[0][0]": "gone@example.com",
        "data[0][1]": "101",
    }
    httpx.post(url, data={**reactivate, "data[0][2]": "active"})
    assert fake_unisender.violations == [
        "importContacts: api_key sent in the URL",
        "gone@example.com: unsubscribed -> active",
    ]
    export = f"{fake_unisender.url}/en/api/exportContacts?format=json"
    asked = {"api_key": fake_unisender.api_key, "list_id": "101", "field_names[0]": "email"}
    assert httpx.post(export, data={**asked, "limit": "5001"}).json()["error"] == (
        "limit must be 1..5000 and offset at least 0"
    )
    assert httpx.post(export, data={**asked, "field_names[1]": "shoe_size"}).json()["error"] == (
        "Unknown field names: shoe_size"
    )
    assert httpx.post(export, data={**asked, "list_id": "999"}).json()["error"] == "List 999 not found"
    # The re-activation above was applied (and recorded as a violation), so the export shows it.
    assert httpx.post(export, data={**asked, "field_names[1]": "email_status", "limit": "10"}).json() == {
        "result": {"field_names": ["email", "email_status"], "data": [["gone@example.com", "active"]]}
    }


def test_destination_keys_never_reach_the_logs(
    fake_sendgrid: FakeSendGrid,
    fake_unisender: FakeUnisender,
    clock: FakeTime,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    fake_sendgrid.inject(Injected(503, path_contains="/v3/marketing/contacts"))
    fake_unisender.inject(Injected(503))
    with sendgrid(fake_sendgrid, clock) as sg, unisender(fake_unisender, clock) as uni:
        sg.upsert(sg_contacts(["a@example.com"]))
        uni.upsert(uni_contacts(["a@example.com"]))

    assert "retry 1" in caplog.text  # the retries were logged …
    assert fake_sendgrid.api_key not in caplog.text  # … without the keys
    assert fake_unisender.api_key not in caplog.text


def test_unisender_fetch_unsubscribes_pages_through_the_list(fake_unisender: FakeUnisender, clock: FakeTime):
    # 5003 active contacts on the list: two export pages, the second of 5 rows.
    for email in people(5003):
        fake_unisender.add_contact(email, "active", {"101"})
    fake_unisender.add_contact("gone@example.com", "unsubscribed", {"101"})
    fake_unisender.add_contact("blocked@example.com", "blocked", {"101"})
    fake_unisender.add_contact("left-us@example.com", "active", {"202"}, unsubscribed_lists={"101"})
    # Opted out of another list only, or of everything but not on ours: not this list's business.
    fake_unisender.add_contact("left-them@example.com", "active", {"101"}, unsubscribed_lists={"202"})
    fake_unisender.add_contact("elsewhere@example.com", "unsubscribed", {"202"})
    with unisender(fake_unisender, clock) as destination:
        found = destination.fetch_unsubscribes(since=datetime(2026, 11, 1, tzinfo=UTC))

    assert sorted(found) == [
        Unsubscribe("blocked@example.com", None, "cleaned"),
        Unsubscribe("gone@example.com", None, "unsubscribed"),
        Unsubscribe("left-us@example.com", None, "unsubscribed"),
    ]
    assert fake_unisender.export_limits == [5000, 5000]
    assert fake_unisender.violations == []


def test_unisender_fetch_unsubscribes_bad_key_and_bad_answers(fake_unisender: FakeUnisender, clock: FakeTime):
    refused = unisender(fake_unisender, clock, api_key="wrong-key")
    with refused, pytest.raises(DestinationAuthError):
        refused.fetch_unsubscribes()
    fake_unisender.list_ids.discard("101")
    unknown_list = unisender(fake_unisender, clock)
    with (
        unknown_list,
        pytest.raises(DestinationError, match="could not read unsubscribes: .*List 101 not found"),
    ):
        unknown_list.fetch_unsubscribes()


# --- File -----------------------------------------------------------------------------------------


def test_file_destination_files_always_equal_the_delivered_members(tmp_path: Path):
    destination = FileDestination(tmp_path / "out", "rfm_champions")
    destination.upsert(
        [
            Contact("b@example.com", {"FNAME": "Bea", "CITY": "Lyon"}),
            Contact("a@example.com", {"FNAME": "Al"}),
            Contact("c@example.com", {"FNAME": "Cy", "CITY": "Oslo"}),
        ]
    )
    destination.upsert([Contact("B@example.com", {"CITY": None})])
    result = destination.remove(["c@example.com", "nobody@example.com"])

    assert result.removed == ["c@example.com", "nobody@example.com"]
    assert (tmp_path / "out" / "rfm_champions.csv").read_text() == (
        "email,CITY,FNAME\na@example.com,,Al\nB@example.com,,Bea\n"
    )
    assert (tmp_path / "out" / "rfm_champions.jsonl").read_text() == (
        '{"email": "a@example.com", "fields": {"FNAME": "Al"}}\n'
        '{"email": "B@example.com", "fields": {"CITY": null, "FNAME": "Bea"}}\n'
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "rfm_champions.csv",
        "rfm_champions.jsonl",
    ]
    assert destination.upsert([Contact("not-an-email", {})]).errors == [
        RowError("not-an-email", "upsert", "not an email address")
    ]


# --- Interface and retry helper -------------------------------------------------------------------


def test_every_destination_implements_the_protocol(tmp_path: Path):
    destinations = [
        MailchimpDestination("k-us1", "l", "t"),
        SendGridDestination("k", "l"),
        UnisenderDestination("k", "1"),
        FileDestination(tmp_path, "s"),
    ]
    for destination in destinations:
        assert isinstance(destination, Destination)
        destination.close()
    # Only a file can tell that its target lost what was delivered (no file yet: lost).
    assert [d.target_lost() for d in destinations] == [False, False, False, True]


def test_the_http_clients_share_one_send_retry_and_auth_check():
    for client in (MailchimpDestination, SendGridDestination, UnisenderDestination):
        assert issubclass(client, HttpDestination)
        assert "_send" not in vars(client) and "close" not in vars(client), client
    # What differs by API: Mailchimp retries a bare 403; Unisender's refusal has no detail.
    assert "_retryable" in vars(MailchimpDestination) and "_refusal" in vars(UnisenderDestination)


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("12", NOW) == 12.0
    assert (
        retry_after_seconds(format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True), NOW) == 30.0
    )
    assert retry_after_seconds("soon", NOW) is None
    answer = httpx.Response(429, headers={"Retry-After": "2", "X-RateLimit-Reset": str(int(NOW) + 9)})
    assert server_requested_wait(answer, NOW) == 2.0  # Retry-After wins over the window reset


def test_retrier_gives_up_at_once_when_asked_to_wait_too_long():
    clock = FakeTime()
    retrier = Retrier(RetryPolicy(max_server_wait=60), sleep=clock.sleep, clock=clock.clock)
    calls: list[int] = []

    def send() -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "3600"})

    with pytest.raises(RetriesExhausted, match="server asked to wait 3600s"):
        retrier.call(send)
    assert calls == [1] and clock.sleeps == []


def test_backoff_is_full_jitter_under_the_cap():
    retrier = Retrier(RetryPolicy(base_delay=1.0, max_delay=8.0), rng=random.Random(7))
    delays = [retrier.backoff(attempt) for attempt in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    caps = [cap for cap in (1.0, 2.0, 4.0, 8.0, 8.0, 8.0) for _ in range(50)]
    assert all(0.0 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert max(delays[150:]) > 4.0  # the cap grows, and the jitter spreads over all of it

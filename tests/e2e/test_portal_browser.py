"""The statisticians' portal in a real Chromium, against statistics that a real flows worker counted
from verified moves on a real broker: every chart is drawn with the published values, a suppressed
figure is never shown as a number (in a table, a chart or a CSV), screenshots go to
test-artifacts/screenshots/ and axe-core finds no serious or critical violation."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.flowstats.adapters.kafka_statistics import read_statistics
from credverify.flowstats.export import PROFESSIONS
from credverify.localrun import Service, cli_env, free_port, wait_for
from credverify.portal.model import destination_label, origin_label
from credverify.v1 import moves_pb2
from tests.e2e.browser import DESKTOP, Checker, chromium  # noqa: F401 - chromium is a fixture
from tests.integration.test_flowstats_worker import months_back, records

pytestmark = pytest.mark.kafka

ALL_DRAWN = "Array.from(document.querySelectorAll('[data-spec]')).every(e => e.dataset.rendered)"
# (origin, destination, ISCO-08, moves): a month of registrations, flows large enough that most survive
# disclosure control, and a few small ones (Kenya's midwives, Nigeria's nurse) that must not.
FLOWS = [
    ("KE", "GB", "2221", 60), ("KE", "GB", "2222", 2), ("RO", "GB", "2212", 45), ("LK", "GB", "2211", 30),
    ("IN", "GB", "2221", 40), ("PH", "IE", "2221", 35), ("RO", "IE", "2211", 20), ("NG", "IE", "2221", 1),
    ("KE", "IE", "2221", 25),
]
TOTAL_MOVES = sum(count for *_, count in FLOWS)
CHARTS = ("flows", "origins", "months", "professions", "returns", "regions", "suppression")


def make_moves(first_day: dt.date, prefix: str, rng: random.Random) -> list[moves_pb2.VerifiedMove]:
    moves = []
    for origin, destination, isco, count in FLOWS:
        for n in range(count):
            moves.append(moves_pb2.VerifiedMove(
                move_id="%s-%s%s%s-%d" % (prefix, origin, destination, isco, n), origin_country=origin,
                destination_country=destination, profession_isco=isco,
                registered_on=to_date(first_day + dt.timedelta(days=rng.randint(0, 20))),
                subject_token="token-%s-%s-%d" % (prefix, origin, n),
                country_of_training=destination if n % 9 == 4 else origin))
    rng.shuffle(moves)
    return moves


@dataclass(frozen=True)
class Published:
    url: str
    closed: str  # a month whose final release is on the topic
    open: str  # a month with provisional releases only
    latest: dict[str, moves_pb2.FlowStatistic]
    kafka: KafkaSettings

    def final(self, origin: str, destination: str, profession: str, measure: str = "moves"
              ) -> moves_pb2.FlowStatistic:
        [found] = [s for s in self.latest.values() if s.period == self.closed and s.final
                   and (s.origin_country, s.destination_country, s.profession_group, s.measure or "moves")
                   == (origin, destination, profession, measure) and s.country_of_training in ("", "_T")]
        return found

    def month_statistics(self) -> list[moves_pb2.FlowStatistic]:
        return [s for s in self.latest.values() if s.period == self.closed and s.country_of_training in ("", "_T")]


def text_of(stat: moves_pb2.FlowStatistic) -> str:
    return "suppressed" if stat.suppressed else f"{stat.value:,}"


@pytest.fixture(scope="module")
def published(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """A flows worker counts a closed month and an open one of verified moves into statistics; the
    portal, started as `credverify flows portal`, follows the statistics topic."""
    from credverify.core.topics import Topics

    work = tmp_path_factory.mktemp("portal")
    kafka = KafkaSettings(kafka_bootstrap, Topics(prefix="tportal%d." % random.randrange(10**6)))
    ensure_topics(kafka)
    today = dt.datetime.now(dt.UTC).date()
    closed_month, open_month = months_back(today, 2), months_back(today, 0)
    rng = random.Random(13)
    producer = ConfirmingProducer(kafka, client_id="test")
    assert all(d.confirmed for d in producer.publish(
        records(kafka.topics.verified_moves, make_moves(closed_month, "c", rng) + make_moves(open_month, "o", rng))))
    producer.close()
    closed, opened = closed_month.strftime("%Y-%m"), open_month.strftime("%Y-%m")
    worker = Service("flowstats", ["flows", "worker", "--k", "5", "--grace", "1d", "--provisional-interval", "1s",
                                   "--data-dir", "state", "--country-of-training"],
                     env=cli_env(kafka_bootstrap, kafka.topics.prefix), cwd=work)
    try:
        def both() -> dict[str, moves_pb2.FlowStatistic] | None:
            latest = read_statistics(kafka, kafka.topics.flow_statistics, idle_timeout=1.0)
            has_final = any(s.period == closed and s.final for s in latest.values())
            return latest if has_final and any(s.period == opened for s in latest.values()) else None

        wait_for("a final release of %s and a provisional one of %s" % (closed, opened), both, timeout=120,
                 services=(worker,))
    finally:
        worker.stop()
    latest = read_statistics(kafka, kafka.topics.flow_statistics, idle_timeout=1.0)
    # The portal as its operators start it: `credverify flows portal`, a process of its own.
    url = "http://127.0.0.1:%d" % free_port()
    portal = Service("portal", ["flows", "portal", "--listen", url.removeprefix("http://"), "--refresh", "1"],
                     env=cli_env(kafka_bootstrap, kafka.topics.prefix), cwd=work)
    try:
        wait_for("the portal to report SERVING", lambda: _serving(url), timeout=60, services=(portal,))
        yield Published(url, closed, opened, latest, kafka)
        portal.assert_running()
    finally:
        portal.stop()


def _serving(url: str) -> bool | None:
    try:
        return httpx.get(url + "/health", timeout=5).status_code == 200 or None
    except httpx.TransportError:
        return None


@pytest.fixture(scope="module")
def checker() -> Iterator[Checker]:
    checker = Checker()
    yield checker
    checker.write()


@pytest.fixture
def page(chromium: Browser, published: Published) -> Iterator[Page]:  # noqa: F811
    # bypass_csp: axe-core is injected as a script the portal's Content-Security-Policy would refuse.
    context = chromium.new_context(base_url=published.url, viewport=DESKTOP, bypass_csp=True, locale="en-GB",
                                   accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def drawn(page: Page, query: str) -> None:
    page.goto("/" + query)
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    states = page.eval_on_selector_all("[data-spec]", "els => els.map(e => [e.id, e.dataset.rendered])")
    assert dict(states) == {"chart-" + c: "yes" for c in CHARTS}, "a chart was not drawn: %s" % states


def labels(page: Page, chart: str) -> list[str]:
    """What each drawn mark of a chart says to assistive technology (Vega-Lite's ARIA descriptions)."""
    return list(page.eval_on_selector_all("#chart-%s svg [aria-label]" % chart,
                                          "els => els.map(e => e.getAttribute('aria-label'))"))


def table(page: Page, chart: str) -> list[list[str]]:
    return list(page.eval_on_selector_all("#table-%s tbody tr" % chart,
                                          "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))"))


def test_a_statistician_reads_a_closed_month_in_every_chart_with_the_published_values(
        page: Page, published: Published, checker: Checker) -> None:
    month = published.closed
    drawn(page, "?from=%s&to=%s" % (month, month))
    checker.check(page, "portal-month", phone=True)

    # The month in the time series, the safeguards-list series beside it, and the table.
    total, listed = published.final("_T", "_T", "_T"), published.final("_SSL", "_T", "_T")
    assert total.value == TOTAL_MOVES, "the worker lost or added moves"
    assert table(page, "months") == [[month, "final", text_of(total), text_of(listed)]]
    assert any("Moves: %s; series: Moves from all issuing countries" % text_of(total) in label
               for label in labels(page, "months"))

    # Professions: nurses and doctors as bars; returns and regions as published.
    bars = labels(page, "professions")
    for row in table(page, "professions"):
        code = next(c for c, label in PROFESSIONS.items() if label == row[0])
        stat = published.final("_T", "_T", code)
        assert row[1] == text_of(stat), "%s shown as %s" % (code, row[1])
        drawn_as_bar = any(label.startswith("Moves: %s; profession: %s" % (row[1], row[0])) for label in bars)
        assert drawn_as_bar != stat.suppressed, "%s: a bar for a suppressed value, or none for a published one" % code
    returns = published.final("_T", "_T", "_T", "returns")
    assert table(page, "returns") == [[month, "final", text_of(total), text_of(returns)]]
    intra, inter = published.final("_INTRA", "_T", "_T"), published.final("_INTER", "_T", "_T")
    assert table(page, "regions") == [[month, "final", text_of(intra), text_of(inter)]]
    suppressed = sum(1 for s in published.latest.values() if s.period == month and s.suppressed)
    assert [month, str(published.final("_T", "_T", "_T").release), "final", "threshold"] == \
        table(page, "suppression")[0][:4]
    assert table(page, "suppression")[0][5] == str(suppressed)
    assert "below 5 moves" in page.locator("#legend").inner_text()

    # Flows: every origin-destination pair as the final release gave it, suppressed ones as "suppressed";
    # the Sankey diagram draws exactly the published ones.
    # A profession whose flows the release left partly published and partly suppressed: the one with the
    # most published flows (secondary suppression hides many of the pairs' totals).
    cells = [s for s in published.month_statistics() if (s.measure or "moves") == "moves"
             and not s.origin_country.startswith("_") and not s.destination_country.startswith("_")]
    profession = max({s.profession_group for s in cells},
                     key=lambda p: sum(1 for s in cells if s.profession_group == p and not s.suppressed))
    drawn(page, "?from=%s&to=%s&profession=%s" % (month, month, profession))
    checker.check(page, "portal-flows-%s" % ("all-professions" if profession == "_T" else profession))
    pairs = {(s.origin_country, s.destination_country): s for s in cells if s.profession_group == profession}
    expected = sorted([origin_label(o), destination_label(d), text_of(s)] for (o, d), s in pairs.items())
    assert sorted(table(page, "flows")) == expected
    assert any(s.suppressed for s in pairs.values()) and any(not s.suppressed for s in pairs.values()), \
        "the release should hold published and suppressed flows of %s: this test would prove little" % profession
    ribbons = labels(page, "flows")
    for (origin, destination), stat in pairs.items():
        mark = "%s to %s: %s moves" % (origin_label(origin), destination_label(destination), text_of(stat))
        assert (mark in ribbons) != stat.suppressed, \
            "the Sankey diagram draws %s>%s wrongly (%s)" % (origin, destination, text_of(stat))

    # The map: every origin shaded with its published value, or marked suppressed.
    for origin in {o for o, _ in pairs}:
        shown = text_of(published.final(origin, "_T", profession))
        assert any(label.startswith("Moves: %s;" % shown) or label.endswith("Moves: %s" % shown)
                   for label in labels(page, "origins")), "the map does not show %s as %s" % (origin, shown)



def test_no_suppressed_statistic_is_ever_shown_as_a_number(page: Page, published: Published) -> None:
    month = published.closed
    hidden = {(s.origin_country, s.destination_country, s.profession_group) for s in published.latest.values()
              if s.period == month and s.suppressed and s.country_of_training in ("", "_T")
              and (s.measure or "moves") == "moves" and not s.origin_country.startswith("_")
              and not s.destination_country.startswith("_")}
    assert hidden, "the worker suppressed no flow: this test would prove nothing"
    for origin, destination, profession in sorted(hidden):
        drawn(page, "?from=%s&to=%s&origin=%s&destination=%s&profession=%s" % (month, month, origin, destination,
                                                                              profession))
        [flow] = table(page, "flows")
        assert flow[2] == "suppressed", "the flow %s>%s of %s is shown as %s" % (origin, destination, profession, flow)
        assert not any("Destination: " in label and label.endswith("Moves: %s" % flow[2])
                       for label in labels(page, "flows"))
        cells = page.eval_on_selector_all("td[data-status=suppressed]", "els => els.map(e => e.textContent.trim())")
        assert cells and set(cells) == {"suppressed"}
    # Every number on the page of the month is a published value or a sum of published values.
    drawn(page, "?from=%s&to=%s" % (month, month))
    response = httpx.get(published.url + "/data/flows.csv", params={"from": month, "to": month})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_pair = {(r["Issuing country"], r["Destination"]): r["Moves"] for r in rows}
    for origin, destination, _ in hidden:
        stat = published.final(origin, destination, "_T")
        assert by_pair[(origin_label(origin), destination_label(destination))] == text_of(stat).replace(",", "")
    assert "suppressed" in by_pair.values() and any(v.isdigit() for v in by_pair.values())


def test_an_open_month_is_marked_provisional_and_its_totals_are_floors(
        page: Page, published: Published, checker: Checker) -> None:
    drawn(page, "")
    checker.check(page, "portal-all-months")
    rows = {r[0]: r for r in table(page, "months")}
    assert rows[published.open][1] == "provisional"
    assert rows[published.open][2].startswith("at least ")
    assert rows[published.closed][1] == "final"
    assert any("Status: provisional" in label for label in labels(page, "months"))
    with page.expect_download() as download:
        page.get_by_role("link", name="Download this table as CSV (Moves per month)").click()
    path = Path(download.value.path())
    downloaded = list(csv.reader(io.StringIO(path.read_text())))
    assert downloaded[0][:3] == ["Month", "Status", "Moves from all issuing countries"]
    assert [published.open, "provisional"] == [r[:2] for r in downloaded if r[0] == published.open][0]


def test_the_filters_work_from_the_keyboard(page: Page, published: Published) -> None:
    drawn(page, "?from=%s&to=%s" % (published.closed, published.closed))
    page.get_by_label("Destination", exact=True).select_option("IE")
    page.get_by_label("Profession", exact=True).focus()
    page.keyboard.press("Tab")  # to the button
    page.keyboard.press("Enter")
    page.wait_for_url("**destination=IE**")
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    assert {r[1] for r in table(page, "flows")} == {"Ireland"}
    to_ireland = {s.origin_country for s in published.month_statistics() if s.destination_country == "IE"
                  and s.profession_group == "_T" and (s.measure or "moves") == "moves"
                  and not s.origin_country.startswith("_")}
    assert sorted(r[0] for r in table(page, "flows")) == sorted(origin_label(o) for o in to_ireland)
    assert httpx.get(published.url + "/", params={"destination": "<b>"}).status_code == 400


def test_flows_by_country_of_training_are_a_choice_of_the_filters(page: Page, published: Published,
                                                                  checker: Checker) -> None:
    month = published.closed
    drawn(page, "?from=%s&to=%s" % (month, month))
    page.get_by_label("Count practitioners by").select_option("training")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**by=training**")
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    checker.check(page, "portal-country-of-training")
    trained = {(s.country_of_training, s.destination_country): s for s in published.latest.values()
               if s.period == month and s.country_of_training not in ("", "_T", "_U", "_SSL")
               and s.profession_group == "_T" and (s.measure or "moves") == "moves"
               and not s.destination_country.startswith("_")}
    assert trained, "the worker published no flows by country of training"
    assert sorted(table(page, "flows")) == sorted(
        [origin_label(c), destination_label(d), text_of(s)] for (c, d), s in trained.items())
    assert page.get_by_role("columnheader", name="Country of training").first.is_visible()


def test_every_chart_is_drawn_under_the_portal_s_own_content_security_policy(
        chromium: Browser, published: Published) -> None:  # noqa: F811
    # The other tests relax the policy to inject axe-core; a person's browser does not.
    context = chromium.new_context(base_url=published.url, viewport=DESKTOP, locale="en-GB")
    try:
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda message: refused.append(message.text)
                if "Content Security Policy" in message.text else None)
        drawn(page, "")
        assert refused == [], "the policy refused: %s" % refused[:3]
    finally:
        context.close()


def test_statistics_published_later_reach_the_pages_without_a_restart(page: Page, published: Published) -> None:
    # A release the worker makes after the portal started (here: an earlier month's final total, as the
    # worker would publish it, keyed as it keys its records) is on the pages at the next refresh.
    earlier = (dt.date.fromisoformat(published.closed + "-01") - dt.timedelta(days=1)).strftime("%Y-%m")
    release = moves_pb2.FlowStatistic(
        period=earlier, origin_country="_T", destination_country="_T", profession_group="_T", value=41,
        method="threshold", parameters={"k": "5"}, final=True, measure="moves", release=1,
        country_of_training="_T")
    producer = ConfirmingProducer(published.kafka, client_id="test")
    try:
        [delivery] = producer.publish([OutgoingRecord(published.kafka.topics.flow_statistics,
                                                      ("%s|_T|_T|_T" % earlier).encode(), release.SerializeToString())])
    finally:
        producer.close()
    assert delivery.confirmed, delivery.error

    def on_the_page() -> list[str] | None:
        rows = csv.reader(io.StringIO(httpx.get(published.url + "/data/months.csv",
                                                params={"from": earlier, "to": earlier}).text))
        return next((row for row in rows if row[0] == earlier), None)

    assert wait_for("the new month on the portal", on_the_page, timeout=60)[:3] == [earlier, "final", "41"]
    drawn(page, "?from=%s&to=%s" % (earlier, published.closed))
    assert table(page, "months")[0][:3] == [earlier, "final", "41"]

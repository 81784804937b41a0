"""The portal's web application without a broker: pages, CSV downloads, health, refusals, and the same
app mounted under another one, as the pages for case officers and registrars could mount it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from credverify.portal.app import create_portal_app
from credverify.portal.model import Statistics
from credverify.portal.source import FixedStatistics, Snapshot
from tests.unit.test_portal_model import final_month, open_month, stat

READ_AT = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


def client(prefix: str = "") -> TestClient:
    app = create_portal_app(FixedStatistics(final_month("2026-09") + final_month("2026-10") + open_month("2026-11"),
                                            READ_AT))
    if prefix:
        app = Starlette(routes=[Mount(prefix, app)])
    return TestClient(app)


def test_the_page_lists_every_chart_with_its_table_and_download() -> None:
    page = client().get("/")
    assert page.status_code == 200
    html = page.text
    for chart in ("flows", "origins", "months", "professions", "returns", "regions", "suppression"):
        assert 'id="chart-%s"' % chart in html and 'id="table-%s"' % chart in html
        assert "/data/%s.csv?window=month&amp;from=2026-09" % chart in html
    assert "Statistics read 2026-12-01 09:30 UTC" in html
    assert "below 5 moves" in html and "WHO Health Workforce Support and Safeguards List (who-hwssl:2023)" in html
    assert "Content-Security-Policy" in page.headers and "frame-ancestors 'none'" in page.headers[
        "Content-Security-Policy"]
    assert "set-cookie" not in page.headers


def test_a_suppressed_cell_is_written_as_suppressed_in_the_page() -> None:
    html = client().get("/", params={"from": "2026-09", "to": "2026-09"}).text
    kenya = re.search(r"<th scope=\"row\">Kenya</th>\s*<td>United Kingdom</td>\s*<td [^>]*>([^<]*)</td>", html)
    assert kenya is not None and kenya.group(1) == "suppressed"
    assert 'data-status="suppressed">suppressed</td>' in html


def test_the_csv_download_follows_the_filters() -> None:
    response = client().get("/data/flows.csv", params={"from": "2026-09", "to": "2026-10", "origin": "KE"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="credverify-flows-2026-09-2026-10.csv"' in response.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["Issuing country", "Destination", "Moves"], ["Kenya", "United Kingdom", "suppressed"]]


def test_unknown_filters_and_charts_are_refused_with_a_page_that_says_why() -> None:
    refused = client().get("/", params={"destination": "<script>alert(1)</script>"})
    assert refused.status_code == 400 and "<script>alert" not in refused.text
    assert "destination: no statistics for" in refused.text
    assert client().get("/data/nothing.csv").status_code == 404


def test_health_says_serving_once_statistics_are_read_and_metrics_count_pages() -> None:
    portal = client()
    assert portal.get("/health").json()["status"] == "SERVING"
    portal.get("/")
    assert 'credverify_portal_requests_total{page="overview",status="200"} 1.0' in portal.get("/metrics").text

    class Unread:
        def current(self) -> Snapshot:
            return Snapshot(Statistics(()), None, ready=False, problem="not read yet")

    waiting = TestClient(create_portal_app(Unread()))
    assert waiting.get("/health").status_code == 503
    assert waiting.get("/").status_code == 503 and "still reading" in waiting.get("/").text


def test_mounted_under_another_application_every_link_keeps_the_prefix() -> None:
    portal = client("/statistics")
    html = portal.get("/statistics/").text
    links = re.findall(r'(?:href|src|action)="([^"#]+)"', html)
    own = [link for link in links if not link.startswith("data:")]
    assert own and all(link.startswith("/statistics/") for link in own), own
    assert portal.get("/statistics/static/vendor/vega-lite.min.js").status_code == 200
    assert portal.get("/statistics/data/months.csv").status_code == 200
    spec = re.search(r'"url":"([^"]+countries-110m.json)"', html)
    assert spec is not None and spec.group(1) == "/statistics/static/vendor/countries-110m.json"


def test_quarters_and_years_published_beside_months_are_offered_as_windows() -> None:
    app = create_portal_app(FixedStatistics(final_month("2026-09") + final_month("2026-Q3"), READ_AT))
    portal = TestClient(app)
    assert '<label for="window">Periods</label>' in portal.get("/").text
    page = portal.get("/", params={"window": "quarter", "from": "2026-09", "to": "2026-09"})
    assert page.status_code == 200 and "Moves per quarter" in page.text and "2026-Q3" in page.text
    rows = list(csv.reader(io.StringIO(portal.get("/data/months.csv", params={"window": "quarter"}).text)))
    assert rows[0][:2] == ["Quarter", "Status"] and rows[1][:3] == ["2026-Q3", "final", "26"]


def test_the_legend_states_differential_privacy_and_its_epsilon_when_a_release_used_it() -> None:
    dp = [stat("2026-09", "RO", "GB", "doctors", 12, method="dp-geometric",
               parameters={"epsilon": "0.5", "k": "5", "mechanism": "discrete laplace"}),
          stat("2026-09", "_T", "_T", "_T", 40, method="dp-geometric", parameters={"epsilon": "0.5", "k": "5"})]
    html = TestClient(create_portal_app(FixedStatistics(dp, READ_AT))).get("/").text
    assert "differential privacy" in html and "epsilon 0.5" in html
    assert '40<abbr class="flag" title="estimated: differential-privacy noise added">' in html  # each noisy value
    threshold_only = client().get("/").text
    assert "epsilon" not in threshold_only


def test_the_portal_reads_no_topic_but_the_flow_statistics_and_imports_no_service_that_holds_people() -> None:
    import ast
    from pathlib import Path

    import credverify.portal

    topics: set[str] = set()
    imported: set[str] = set()
    for source in Path(credverify.portal.__file__).parent.rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "topics":
                topics.add(node.attr)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("credverify."):
                imported.add(node.module)
    assert topics == {"flow_statistics"}
    assert {m.split(".")[1] for m in imported} <= {"core", "flowstats", "portal", "v1"}
    assert {m for m in imported if m.startswith("credverify.flowstats")} <= {
        "credverify.flowstats.export", "credverify.flowstats.tables"}  # pure: labels and codes, no I/O

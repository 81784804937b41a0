"""The portal as a Starlette application: ``create_portal_app(source)``.

Public and read-only: GET only, no sessions, no cookies, no forms that change anything. Every URL it
writes is relative to where it is mounted (``url_for`` and the request's root path), so the same app
serves on its own (`credverify flows portal`) or mounted under another application, e.g.
``Mount("/statistics", create_portal_app(feed))``.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from credverify.core.adapters.templates import templates_in
from credverify.portal import charts, model
from credverify.portal.source import Snapshot, StatisticsSource

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
# Scripts come from the portal alone and nothing is compiled from strings: charts are drawn with
# vega-embed's expression interpreter (``ast: true`` in portal.js), so no 'unsafe-eval'. vega-embed
# positions its tooltips with inline styles ('unsafe-inline' for styles only). No frames
# (clickjacking), nothing loaded from elsewhere, no sessions or cookies.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
CACHE_ENTRIES = 64  # pages kept per snapshot: the common filter choices are served without recomputing
CHART_TITLES = {
    "flows": "Flows from issuing countries to destinations",
    "origins": "Where they come from: issuing countries on a map",
    "months": "Moves per {window}",
    "professions": "Moves by profession",
    "returns": "Return migration",
    "regions": "Moves within and between regions",
    "suppression": "What suppression costs: share of statistics suppressed per release",
}


@dataclass
class PortalMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("credverify_portal_requests_total", "HTTP requests answered, by page and status",
                                ["page", "status"], registry=self.registry)
        self.statistics = Gauge("credverify_portal_statistics", "statistics held in the served snapshot",
                                registry=self.registry)


class PageCache:
    """The last pages rendered, keyed by filters; emptied whenever the source hands over a new snapshot."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._pages: OrderedDict[tuple[str, ...], str] = OrderedDict()

    def get(self, snapshot: Snapshot, key: tuple[str, ...]) -> str | None:
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._pages.clear()
        found = self._pages.get(key)
        if found is not None:
            self._pages.move_to_end(key)
        return found

    def put(self, key: tuple[str, ...], page: str) -> None:
        self._pages[key] = page
        while len(self._pages) > CACHE_ENTRIES:
            self._pages.popitem(last=False)


def _state(request: Request) -> tuple[StatisticsSource, PortalMetrics, PageCache]:
    state = request.app.state
    return state.source, state.metrics, state.cache


def _filters(request: Request, snapshot: Snapshot) -> model.Filters:
    return model.Filters.parse(dict(request.query_params), snapshot.statistics)


def _path(request: Request, name: str, **params: str) -> str:
    """The path of a route, with the prefix the portal is mounted under: links never name a host."""
    return request.url_for(name, **params).path


def _script_json(value: object) -> str:
    # Inside <script type="application/json">: nothing may close the element early.
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    html = templates_in(TEMPLATES).get_template("error.html").render(
        message=message, home=_path(request, "overview"),
        css=_path(request, "static", path="portal.css"))
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


async def overview_page(request: Request) -> Response:
    source, metrics, cache = _state(request)
    snapshot = source.current()
    if not snapshot.statistics.windows:
        metrics.requests.labels("overview", "503").inc()
        return _error_page(request, 503, "No flow statistics have been published yet%s. Try again in a minute."
                           % ("" if snapshot.ready else " (the portal is still reading them)"))
    try:
        filters = _filters(request, snapshot)
    except model.InvalidFilter as exc:
        metrics.requests.labels("overview", "400").inc()
        return _error_page(request, 400, "That choice of filters cannot be shown: %s." % exc)
    base = _path(request, "overview")
    key = ("page", base, filters.query())
    html = cache.get(snapshot, key)
    if html is None:
        html = _render_overview(request, snapshot, filters)
        cache.put(key, html)
    metrics.requests.labels("overview", "200").inc()
    metrics.statistics.set(len(snapshot.statistics))
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def _render_overview(request: Request, snapshot: Snapshot, filters: model.Filters) -> str:
    view = model.overview(snapshot.statistics, filters)
    topology = _path(request, "static", path="vendor/countries-110m.json")
    specs = charts.specs(view, topology)
    tables = {chart_id: build(view) for chart_id, build in model.TABLES.items()}
    glance = _at_a_glance(view)
    return templates_in(TEMPLATES).get_template("portal.html").render(
        view=view, filters=filters, specs={k: _script_json(v) for k, v in specs.items()}, tables=tables,
        titles={k: v.format(window=filters.window) for k, v in CHART_TITLES.items()},
        not_drawn=charts.sankey_rows(view.flows)[2], glance=glance, snapshot=snapshot,
        query=filters.query(), static=lambda path: _path(request, "static", path=path),
        download=lambda chart: _path(request, "download", chart=chart) + "?" + filters.query(),
        home=_path(request, "overview"), Figure=model.Figure,
    )


def _at_a_glance(view: model.Overview) -> dict[str, model.Figure]:
    months = view.months[0].figures
    found = {"moves": model.total_of(f for _, f in months)}
    if len(view.months) > 1:
        found["listed"] = model.total_of(f for _, f in view.months[1].figures)
    found["returns"] = model.total_of(f for _, f in view.returns[1].figures)
    return found


async def download(request: Request) -> Response:
    source, metrics, _ = _state(request)
    snapshot = source.current()
    chart = request.path_params["chart"]
    if chart not in model.TABLES:
        metrics.requests.labels("download", "404").inc()
        return _error_page(request, 404, "There is no chart %r." % chart[:40])
    try:
        filters = _filters(request, snapshot)
    except model.InvalidFilter as exc:
        metrics.requests.labels("download", "400").inc()
        return _error_page(request, 400, "That choice of filters cannot be shown: %s." % exc)
    table = model.TABLES[chart](model.overview(snapshot.statistics, filters))
    name = "credverify-%s-%s-%s.csv" % (chart, filters.period_from, filters.period_to)
    metrics.requests.labels("download", "200").inc()
    return Response(table.csv(), media_type="text/csv; charset=utf-8",
                    headers={**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="%s"' % name})


async def health(request: Request) -> Response:
    """SERVING once the statistics topic has been read to the end it had at start-up."""
    source, _, _ = _state(request)
    snapshot = source.current()
    body = {"status": "SERVING" if snapshot.ready else "NOT_SERVING", "statistics": len(snapshot.statistics),
            "months": len(snapshot.statistics.periods),
            "read_at": snapshot.read_at.isoformat() if snapshot.read_at else None}
    if snapshot.problem:
        body["problem"] = snapshot.problem
    return JSONResponse(body, status_code=200 if snapshot.ready else 503)


async def metrics_page(request: Request) -> Response:
    _, metrics, _ = _state(request)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_portal_app(source: StatisticsSource, *, metrics: PortalMetrics | None = None) -> Starlette:
    """Return the portal, serving pages from ``source``'s latest snapshot."""
    routes: list[BaseRoute] = [
        Route("/", overview_page, name="overview"),
        Route("/data/{chart}.csv", download, name="download"),
        Route("/health", health, name="health"),
        Route("/metrics", metrics_page, name="metrics"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.source = source
    app.state.metrics = metrics or PortalMetrics()
    app.state.cache = PageCache()
    return app

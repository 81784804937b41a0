"""The portal's charts as Vega-Lite specifications, built with Altair from the view model. Pure.

Charts draw only numbers the view model allows (``Figure.number``): a suppressed figure is never
drawn as a bar, a point or a width; where it belongs it is marked with the word "suppressed" or a
dashed rule, and the table beside each chart lists it as "suppressed".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import altair as alt
import pycountry

from credverify.portal.model import (
    NOT_PUBLISHED,
    SUPPRESSED,
    Flow,
    Overview,
    Series,
    destination_label,
    origin_label,
    profession_label,
)

# Okabe and Ito's palette: told apart by people with any common colour-vision deficiency.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
SANKEY_ORIGINS = 12  # more ribbons than this cannot be read; the table lists every flow
SANKEY_STEPS = 16  # points along each ribbon's curve: smooth at any width the page gives it
WIDTH = "container"

Spec = dict[str, Any]


def _done(chart: alt.TopLevelMixin, description: str, datasets: dict[str, list[dict[str, Any]]]) -> Spec:
    """Return the chart's specification, checked against Vega-Lite's schema, with its data attached
    after the check: the schema says nothing about rows, and checking thousands of them costs seconds."""
    spec: Spec = chart.properties(description=description).to_dict()
    spec["datasets"] = {**spec.get("datasets", {}), **datasets}
    return spec


def _start(period: str) -> dt.date:
    """The first day of a month (YYYY-MM), quarter (YYYY-Qn) or year (YYYY)."""
    year = int(period[:4])
    if len(period) == 4:
        return dt.date(year, 1, 1)
    if period[5] == "Q":
        return dt.date(year, 3 * int(period[6]) - 2, 1)
    return dt.date(year, int(period[5:7]), 1)


def _first_of_month(period: str) -> str:
    return _start(period).isoformat()


def _next_month(period: str) -> str:
    """The first day after the period."""
    start = _start(period)
    months = 12 if len(period) == 4 else 3 if period[5] == "Q" else 1
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1).isoformat()


def _smooth(t: float) -> float:
    return t * t * (3 - 2 * t)


def _totals(flows: Sequence[Flow], side: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for flow in flows:
        code = getattr(flow, side)
        totals[code] = totals.get(code, 0) + (flow.figure.number or 0)
    return totals


def _ranked(totals: dict[str, int]) -> list[str]:
    return sorted(totals, key=lambda code: (-totals[code], code))


def sankey_rows(flows: Sequence[Flow]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Lay out a two-column Sankey diagram (issuing countries left, destinations right) of the drawable
    flows: ribbon points and node boxes, in a unit square. Returns (ribbons, nodes, flows not drawn)."""
    drawable = [f for f in flows if f.figure.number]
    origins = _ranked(_totals(drawable, "origin"))[:SANKEY_ORIGINS]
    drawn = [f for f in drawable if f.origin in origins]
    by_origin, by_destination = _totals(drawn, "origin"), _totals(drawn, "destination")
    destinations = _ranked(by_destination)
    grand = sum(by_origin.values()) or 1
    gap = 0.02
    room = 1 - gap * max(len(origins), len(destinations), 1)
    left = _stack(origins, by_origin, grand, gap, room)
    right = _stack(destinations, by_destination, grand, gap, room)
    nodes = _nodes(left, right)
    ribbons: list[dict[str, Any]] = []
    left_used = {o: left[o][0] for o in origins}
    right_used = {d: right[d][0] for d in destinations}
    for flow in sorted(drawn, key=lambda f: (origins.index(f.origin), destinations.index(f.destination))):
        height = (flow.figure.number or 0) / grand * room
        ribbons += _ribbon(flow, left_used[flow.origin], right_used[flow.destination], height)
        left_used[flow.origin] += height
        right_used[flow.destination] += height
    return ribbons, nodes, len(flows) - len(drawn)


def _nodes(left: dict[str, tuple[float, float]], right: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    nodes = [{"side": "issuing country", "code": o, "name": origin_label(o), "x": 0.0, "x2": 0.03,
              "y": y, "y2": y2} for o, (y, y2) in left.items()]
    nodes += [{"side": "destination", "code": d, "name": destination_label(d), "x": 0.97, "x2": 1.0,
               "y": y, "y2": y2} for d, (y, y2) in right.items()]
    return nodes


def _ribbon(flow: Flow, start: float, end: float, height: float) -> list[dict[str, Any]]:
    """The points of one ribbon, from its slot on the left to its slot on the right, eased (smoothstep)."""
    points = []
    for step in range(SANKEY_STEPS + 1):
        t = step / SANKEY_STEPS
        top = start + (end - start) * _smooth(t)
        points.append({"flow": "%s to %s" % (flow.origin, flow.destination), "origin": origin_label(flow.origin),
                       "destination": destination_label(flow.destination), "moves": flow.figure.text(),
                       "label": "%s to %s: %s moves" % (origin_label(flow.origin), destination_label(flow.destination),
                                                        flow.figure.text()),
                       # four decimals: a ten-thousandth of the chart's height, finer than a pixel
                       "x": round(0.03 + 0.94 * t, 4), "y": round(top, 4), "y2": round(top + height, 4)})
    return points


def _stack(codes: Sequence[str], size: dict[str, int], grand: int, gap: float, room: float
           ) -> dict[str, tuple[float, float]]:
    placed: dict[str, tuple[float, float]] = {}
    at = 0.0
    for code in codes:
        height = size[code] / grand * room
        placed[code] = (at, at + height)
        at += height + gap
    return placed


def _named(datasets: dict[str, list[dict[str, Any]]], name: str, rows: list[dict[str, Any]]) -> alt.Data:
    """Keep ``rows`` aside under ``name`` (see _done) and return a reference to them."""
    datasets[name] = rows
    return alt.Data(name=name)  # type: ignore[no-untyped-call]  # Altair's generated schema classes


def flows_spec(view: Overview) -> Spec:
    ribbons, nodes, _ = sankey_rows(view.flows)
    data: dict[str, list[dict[str, Any]]] = {}
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, 1]))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[0, 1], reverse=True))
    ribbon = alt.Chart(_named(data, "ribbons", ribbons)).mark_area(opacity=0.55, interpolate="monotone").encode(
        x=x, y=y, y2="y2:Q", detail="flow:N", description="label:N",
        color=alt.Color("origin:N", legend=None, scale=alt.Scale(range=PALETTE)),
        tooltip=[alt.Tooltip("origin:N", title="Issuing country"), alt.Tooltip("destination:N", title="Destination"),
                 alt.Tooltip("moves:N", title="Moves")])
    box = alt.Chart(_named(data, "nodes", nodes)).mark_rect(color="#1b1b1b").encode(
        x=x, x2="x2:Q", y=y, y2="y2:Q", description="name:N", tooltip=[alt.Tooltip("name:N", title="Country")])
    middle = alt.Y("middle:Q", axis=None, scale=alt.Scale(domain=[0, 1], reverse=True))
    left = alt.Chart(_named(data, "nodes", nodes)).mark_text(fontSize=12, align="left", dx=26).encode(
        x=x, y=middle, text="name:N", description="name:N").transform_calculate(
        middle="(datum.y + datum.y2) / 2").transform_filter("datum.side !== 'destination'")
    right = alt.Chart(_named(data, "nodes", nodes)).mark_text(fontSize=12, align="right", dx=-26).encode(
        x=x, y=middle, text="name:N", description="name:N").transform_calculate(
        middle="(datum.y + datum.y2) / 2").transform_filter("datum.side === 'destination'")
    chart = alt.layer(ribbon, box, left, right).properties(width=WIDTH, height=360)
    return _done(chart, "Sankey diagram of verified moves from issuing countries (left) to destinations (right); "
                        "ribbon width is the number of moves. The table beside it lists every flow.", data)


def map_spec(view: Overview, topology_url: str) -> Spec:
    rows = []
    for code, figure in view.origins:
        country = pycountry.countries.get(alpha_2=code)
        if country is None:
            continue
        rows.append({"id": str(country.numeric), "name": origin_label(code), "moves": figure.number,
                     "shown": figure.text(), "status": figure.status,
                     "listed": "yes" if code in view.listed else "no"})
    shapes = alt.topo_feature(topology_url, "countries")
    data: dict[str, list[dict[str, Any]]] = {}
    found = alt.LookupData(data=_named(data, "origins", rows), key="id",
                           fields=["name", "moves", "shown", "status", "listed"])
    base = alt.Chart(shapes).mark_geoshape(fill="#e8e8e8", stroke="#ffffff", strokeWidth=0.5)
    published = alt.Chart(shapes).mark_geoshape(stroke="#ffffff", strokeWidth=0.5).encode(
        color=alt.Color("moves:Q", title="Moves", scale=alt.Scale(scheme="blues", type="sqrt")),
        tooltip=[alt.Tooltip("name:N", title="Issuing country"), alt.Tooltip("shown:N", title="Moves"),
                 alt.Tooltip("listed:N", title="WHO safeguards list")],
    ).transform_lookup(lookup="id", from_=found).transform_filter("datum.moves != null")
    hidden = alt.Chart(shapes).mark_geoshape(fill="#6b6b6b", stroke="#ffffff", strokeWidth=0.5).encode(
        tooltip=[alt.Tooltip("name:N", title="Issuing country"), alt.Tooltip("shown:N", title="Moves")],
    ).transform_lookup(lookup="id", from_=found).transform_filter("datum.status === '%s'" % SUPPRESSED)
    listed = alt.Chart(shapes).mark_geoshape(fill=None, stroke="#D55E00", strokeWidth=1.5).transform_lookup(
        lookup="id", from_=found).transform_filter("datum.listed === 'yes'")
    chart = alt.layer(base, published, hidden, listed).project(type="equalEarth").properties(width=WIDTH, height=380)
    return _done(chart, "World map of the issuing countries of verified moves, shaded by the number of moves; "
                        "suppressed countries in dark grey, countries on the WHO safeguards list outlined in orange. "
                        "The table beside it lists every country.", data)


def _monthly_rows(series: Sequence[Series]) -> list[dict[str, Any]]:
    return [{"month": _first_of_month(period), "period": period, "series": s.label, "moves": figure.number,
             "shown": figure.text(), "status": figure.status}
            for s in series for period, figure in s.figures]


TICKS: dict[str, Any] = {"month": {"interval": "month", "step": 1}, "quarter": {"interval": "month", "step": 3},
                         "year": {"interval": "year", "step": 1}}
AXIS_FORMATS = {"month": "%Y-%m", "quarter": "%Y-%m", "year": "%Y"}


def monthly_spec(series: Sequence[Series], description: str, window: str = "month") -> Spec:
    rows = _monthly_rows(series)
    open_months = sorted({r["period"] for r in rows if r["status"] == "provisional"}
                         | {p for s in series for p, f in s.figures if not f.final})
    bands = [{"month": _first_of_month(p), "end": _next_month(p), "note": "provisional: month still open"}
             for p in open_months]
    x = alt.X("month:T", title=window.capitalize(),
              axis=alt.Axis(format=AXIS_FORMATS[window], labelAngle=-45, tickCount=TICKS[window]))
    color = alt.Color("series:N", title=None, scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom"))
    tooltip = [alt.Tooltip("period:N", title=window.capitalize()), alt.Tooltip("series:N", title="Series"),
               alt.Tooltip("shown:N", title="Moves"), alt.Tooltip("status:N", title="Status")]
    data: dict[str, list[dict[str, Any]]] = {}
    band = alt.Chart(_named(data, "bands", bands)).mark_rect(color="#fff2cc").encode(
        x=x, x2="end:T", tooltip=[alt.Tooltip("note:N", title="")])
    line = alt.Chart(_named(data, "rows", rows)).mark_line().encode(
        x=x, y=alt.Y("moves:Q", title="Moves"), color=color, detail="series:N",
    ).transform_filter("datum.moves != null")
    points = alt.Chart(_named(data, "rows", rows)).mark_point(size=60, filled=True).encode(
        x=x, y="moves:Q", color=color,
        shape=alt.Shape("status:N", title="Status", scale=alt.Scale(domain=["final", "provisional"],
                                                                     range=["circle", "triangle-up"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=tooltip,
    ).transform_filter("datum.moves != null")
    hidden = alt.Chart(_named(data, "rows", rows)).mark_rule(strokeDash=[4, 3], strokeWidth=2).encode(
        x=x, color=color, tooltip=tooltip,
    ).transform_filter("datum.status === '%s' || datum.status === '%s'" % (SUPPRESSED, NOT_PUBLISHED))
    layers = [band, line, points, hidden] if bands else [line, points, hidden]
    chart = alt.layer(*layers).properties(width=WIDTH, height=300)
    return _done(chart, description, data)


def professions_spec(view: Overview) -> Spec:
    rows = [{"profession": profession_label(code), "moves": figure.number, "shown": figure.text(),
             "status": figure.status} for code, figure in view.professions]
    data: dict[str, list[dict[str, Any]]] = {}
    y = alt.Y("profession:N", title=None, sort=None, axis=alt.Axis(labelLimit=320))
    bars = alt.Chart(_named(data, "rows", rows)).mark_bar(color=PALETTE[0]).encode(
        x=alt.X("moves:Q", title="Moves"), y=y,
        tooltip=[alt.Tooltip("profession:N", title="Profession"), alt.Tooltip("shown:N", title="Moves")],
    ).transform_filter("datum.moves != null")
    words = alt.Chart(_named(data, "rows", rows)).mark_text(align="left", dx=4, fontStyle="italic").encode(
        y=y, x=alt.datum(0), text="shown:N",
    ).transform_filter("datum.moves == null")
    chart = alt.layer(bars, words).properties(width=WIDTH, height=34 * len(rows))
    return _done(chart, "Bar chart of verified moves by profession group; a suppressed group carries the word "
                        "suppressed instead of a bar.", data)


def suppression_spec(view: Overview) -> Spec:
    latest: dict[str, Any] = {}
    for release in view.releases:
        latest[release.period] = {"month": _first_of_month(release.period), "period": release.period,
                                  "share": round(release.share, 4), "release": release.number,
                                  "status": "final" if release.final else "provisional",
                                  "statistics": release.statistics, "suppressed": release.suppressed}
    data: dict[str, list[dict[str, Any]]] = {}
    chart = alt.Chart(_named(data, "releases", list(latest.values()))).mark_bar(color=PALETTE[1]).encode(
        x=alt.X("month:T", title="Period", timeUnit="yearmonth", axis=alt.Axis(format="%Y-%m", labelAngle=-45)),
        y=alt.Y("share:Q", title="Share of statistics suppressed", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("period:N", title="Period"), alt.Tooltip("release:Q", title="Release"),
                 alt.Tooltip("status:N", title="Status"), alt.Tooltip("share:Q", title="Suppressed", format=".0%"),
                 alt.Tooltip("statistics:Q", title="Statistics")],
    ).properties(width=WIDTH, height=220)
    return _done(chart, "Bar chart of the share of statistics suppressed in the latest release of each month.", data)


def specs(view: Overview, topology_url: str) -> dict[str, Spec]:
    """Return every chart's specification, by chart id."""
    window = view.filters.window
    return {
        "flows": flows_spec(view),
        "origins": map_spec(view, topology_url),
        "months": monthly_spec(view.months, "Line chart of verified moves per %s; provisional periods shaded and "
                                            "drawn with triangles, suppressed ones as dashed rules." % window, window),
        "professions": professions_spec(view),
        "returns": monthly_spec(view.returns, "Line chart of all verified moves and of returns to the country of "
                                              "training per %s." % window, window),
        "regions": monthly_spec(view.regions, "Line chart of verified moves per %s from the destination's own "
                                              "UN M49 region and from other regions." % window, window),
        "suppression": suppression_spec(view),
    }

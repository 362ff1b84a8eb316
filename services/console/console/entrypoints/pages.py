"""The console's server-rendered pages: plain HTML that works before any script runs; console.js makes it live."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from urllib.parse import urlencode

from console.adapters.reference import ConsoleReference
from console.domain.access import allowed_actions
from console.domain.cases import CaseSummary, RecordedEvent, Timeline, describe
from console.domain.figures import MAP_METRICS, REPORT_LEVELS, GridFigures, Period, SupervisionBoard, UnitFigures
from console.domain.mapview import GridMapView
from console.domain.messages import CaseMessages
from console.entrypoints.web import Viewer

NAV = (("/map", "Grid map 网格地图"), ("/board", "Live board 实时"), ("/supervision", "Supervision 督办"),
       ("/reports", "Reports 绩效"))  # fmt: skip
METRIC_LABELS = {"open": "open cases", "overdue": "overdue cases", "satisfaction": "dissatisfaction"}


def e(value) -> str:
    return escape("" if value is None else str(value))


def local_time(moment: datetime | None) -> str:
    """District time (UTC+8), as the command hall reads it."""
    return (moment + timedelta(hours=8)).strftime("%m-%d %H:%M") if moment else ""


def layout(title: str, viewer: Viewer | None, body: str, active: str = "") -> str:
    nav = ""
    if viewer is not None:
        links = "".join(
            f'<a href="{href}"{" class=active" if href == active else ""}>{e(label)}</a>' for href, label in NAV
        )
        who = f"{e(viewer.principal.user_id)} · {e(viewer.principal.role)} · {e(viewer.principal.unit)}"
        nav = (
            f'<nav>{links}<span class="who" id="who">{who}</span>'
            '<form method="post" action="/logout"><button>Sign out</button></form></nav>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)} · GridLink console</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/static/console.css"><script src="/static/console.js" defer></script>'
        f"</head><body><header><strong>GridLink</strong> 海勃湾区社会治理指挥中心 {nav}</header>"
        f'<main>{body}</main><div id="live-status" class="live-status">offline</div></body></html>'
    )


def login_page(error: str | None = None) -> str:
    message = f'<p class="error" id="login-error">{e(error)}</p>' if error else ""
    body = (
        '<section class="login"><h1>Sign in</h1>'
        "<p>Paste your staff token (issued with <code>python -m gridlink.runtime.auth issue …</code>).</p>"
        f'{message}<form method="post" action="/login"><textarea name="token" id="token" rows="4" required></textarea>'
        '<button type="submit" id="login-submit">Sign in</button></form></section>'
    )
    return layout("Sign in", None, body)


def map_page(
    viewer: Viewer,
    ref: ConsoleReference,
    view: GridMapView,
    stats: dict[str, GridFigures],
    metric: str,
    sub_centre: str | None,
) -> str:
    options = '<option value="">all sub-centres</option>' + "".join(
        f'<option value="{e(code)}"{" selected" if code == sub_centre else ""}>{e(name)}</option>'
        for code, name in ref.names("sub_centre", viewer.scope).items()
    )
    metrics = "".join(
        f'<option value="{m}"{" selected" if m == metric else ""}>{e(METRIC_LABELS[m])}</option>' for m in MAP_METRICS
    )
    shapes = "".join(
        f'<path class="grid level-{stats.get(s.code, GridFigures()).level(metric)}" id="g{s.code}" '
        f'data-code="{s.code}" data-sub="{s.sub_centre_code}" d="{s.path}"><title>{e(s.name)}</title></path>'
        for s in view.shapes
    )
    svg = (
        f'<svg id="grid-map" viewBox="0 0 {view.width} {view.height}" role="img" '
        f'aria-label="grid map, {len(view.shapes)} grids" data-metric="{metric}">{shapes}</svg>'
    )
    legend = "".join(f'<span class="swatch level-{n}"></span>' for n in range(5))
    body = (
        '<section class="map-layout"><div class="map-pane">'
        '<form class="filters" method="get" action="/map" id="map-filters">'
        f'<label>Sub-centre <select name="sub_centre" id="sub-centre">{options}</select></label>'
        f'<label>Colour by <select name="metric" id="metric">{metrics}</select></label>'
        f'<noscript><button>Show</button></noscript><span class="legend">low {legend} high</span></form>'
        f"{svg}</div>"
        '<aside id="grid-panel" class="panel"><p>Click a grid to see its cases and staff.</p></aside></section>'
    )
    return layout("Grid map", viewer, body, "/map")


def event_row(event: RecordedEvent, ref: ConsoleReference) -> str:
    return (
        f'<tr class="ev ev-{e(event.type)}" data-seq="{event.seq}"><td>{e(local_time(event.occurred_at))}</td>'
        f'<td><span class="badge {e(event.source)}">{e(event.type)}</span></td>'
        f'<td><a href="/cases/{e(event.correlation_id)}">{e(event.payload.get("tracking_code") or "case")}</a></td>'
        f"<td>{e(ref.unit_name(event.grid_code))}</td><td>{e(describe(event))}</td></tr>"
    )


def board_page(viewer: Viewer, ref: ConsoleReference, events: list[RecordedEvent], last_seq: int) -> str:
    rows = "".join(event_row(ev, ref) for ev in events)
    body = (
        "<h1>Live board <small>reports, assignments, escalations and overdue cases as they happen</small></h1>"
        f'<table class="board" id="board" data-after="{last_seq}"><thead><tr><th>time</th><th>event</th>'
        f'<th>case</th><th>grid</th><th>what happened</th></tr></thead><tbody id="board-rows">{rows}</tbody></table>'
    )
    return layout("Live board", viewer, body, "/board")


def action_buttons(viewer: Viewer, case: CaseSummary) -> str:
    actions = allowed_actions(viewer.principal.role, case)
    if not actions:
        return ""
    buttons = "".join(
        f'<button type="button" class="act" id="act-{a}-{e(case.correlation_id)}" data-action="{a}" '
        f'data-case="{e(case.correlation_id)}">{e(a)}</button>'
        for a in actions
    )
    return f'<span class="actions">{buttons}</span>'


def case_page(viewer: Viewer, ref: ConsoleReference, view: Timeline, actions_log: list[dict]) -> str:
    c = view.case
    facts = (
        ("tracking code", c.tracking_code),
        ("state", c.state),
        ("category", f"{c.category_code or ''} ({c.category_kind or ''}, {c.urgency or ''})"),
        ("grid", f"{ref.unit_name(c.grid_code)} {c.grid_code or ''}"),
        ("handled at", f"{c.tier or ''} {ref.unit_name(c.unit_code)} · {c.assignee_id or ''}"),
        ("deadline", local_time(c.deadline_at) + (" OVERDUE" if c.overdue else " due soon" if c.due_soon else "")),
        ("dispatch case", c.case_id),
        ("mediation", c.dispute_code),
        ("volunteer order", c.order_id),
        ("supervised (督办)", f"{c.supervisions} times" if c.supervisions else ""),
        ("escalated (上报)", f"{c.escalations} times" if c.escalations else ""),
        ("rating", c.rating),
        ("description", c.description),
    )
    table = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts if v and str(v).strip(" ()·"))
    items = "".join(
        f'<li data-seq="{ev.seq}"><time>{e(local_time(ev.occurred_at))}</time> '
        f'<span class="badge {e(ev.source)}">{e(ev.source)}</span> {e(describe(ev))}</li>'
        for ev in view.events
    )
    log = "".join(
        f"<li>{e(local_time(a['at']))} {e(a['user_id'])} ({e(a['role'])}) asked to {e(a['action'])}: "
        f"{e(a['reason'])} → {e(a['status'] or 'no answer')}</li>"
        for a in actions_log
    )
    buttons = action_buttons(viewer, c)
    messages = message_list(view.messages)
    act = (
        '<section class="act-form"><h2>Act</h2><label>Reason <input id="act-reason" maxlength="500" '
        f'value="督办: please report progress today"></label> {buttons}<p id="act-result" role="status"></p></section>'
        if buttons
        else ""
    )
    body = (
        f"<h1>Case {e(c.tracking_code or c.correlation_id)}</h1>"
        f'<div class="case" id="case" data-correlation="{e(c.correlation_id)}">'
        f'<table class="facts">{table}</table>{act}'
        f'<h2>History across the services</h2><ol class="timeline" id="timeline">{items}</ol>'
        f"<h2>Messages sent (as notification has them now)</h2>{messages}"
        f'<h2>Actions from the console</h2><ul id="action-log">{log}</ul></div>'
    )
    return layout(f"Case {c.tracking_code or ''}", viewer, body)


def message_list(found: CaseMessages) -> str:
    if found.unavailable:
        return f'<p class="unavailable" id="messages">Cannot show the messages now: {e(found.unavailable)}</p>'
    if not found.messages:
        return '<p class="empty" id="messages">No messages for this case yet.</p>'
    items = "".join(
        f'<li class="{e(m.status)}"><time>{e(local_time(m.at))}</time> {e(m.line())}</li>' for m in found.messages
    )
    return f'<ol class="messages" id="messages">{items}</ol>'


def supervision_page(viewer: Viewer, ref: ConsoleReference, board: SupervisionBoard) -> str:
    def table(kind: str, lists: dict[str, list[CaseSummary]]) -> str:
        if not lists:
            return f'<p class="empty">No {kind} cases.</p>'
        out = ""
        for tier, cases in lists.items():
            rows = "".join(
                f'<tr><td><a href="/cases/{e(c.correlation_id)}">{e(c.tracking_code)}</a></td>'
                f"<td>{e(ref.unit_name(c.grid_code))}</td><td>{e(ref.unit_name(c.unit_code))}</td>"
                f"<td>{e(c.assignee_id)}</td><td>{e(local_time(c.deadline_at))}</td>"
                f"<td>{action_buttons(viewer, c)}</td></tr>"
                for c in cases
            )
            out += (
                f'<h3>{e(tier)} tier · {len(cases)}</h3><table class="board {kind}"><thead><tr><th>case</th>'
                f"<th>grid</th><th>handling unit</th><th>assignee</th><th>deadline</th><th></th></tr></thead>"
                f"<tbody>{rows}</tbody></table>"
            )
        return out

    body = (
        '<h1>Supervision board <small>督办</small></h1><p><label>Reason <input id="act-reason" maxlength="500" '
        'value="督办: overdue, act today"></label> <span id="act-result" role="status"></span></p>'
        f'<section id="overdue"><h2>Overdue</h2>{table("overdue", board.overdue)}</section>'
        f'<section id="due-soon"><h2>Due soon</h2>{table("due-soon", board.due_soon)}</section>'
    )
    return layout("Supervision", viewer, body, "/supervision")


def bar_chart(rows: list[UnitFigures], width: int = 900) -> str:
    """Received and resolved per unit as horizontal bars, drawn on the server: no chart library."""
    shown = [r for r in rows if r.received][:40]
    if not shown:
        return '<p class="empty">No reports in this period.</p>'
    peak = max(r.received for r in shown)
    label_w, bar_w, line = 220, width - 300, 22
    parts = []
    for i, r in enumerate(shown):
        y = i * line
        received = r.received / peak * bar_w
        resolved = r.resolved / peak * bar_w
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{e(r.name[:18])}</text>'
            f'<rect class="received" x="{label_w}" y="{y + 3}" width="{received:.1f}" height="16"/>'
            f'<rect class="resolved" x="{label_w}" y="{y + 7}" width="{resolved:.1f}" height="8"/>'
            f'<text x="{label_w + received + 4:.1f}" y="{y + 15}">{r.received}/{r.resolved}</text>'
        )
    height = len(shown) * line + 4
    return (
        f'<svg class="chart" id="report-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="received and resolved per unit">{"".join(parts)}</svg>'
        '<p class="legend"><span class="swatch received"></span> received <span class="swatch resolved"></span> '
        "resolved</p>"
    )


def reports_page(viewer: Viewer, rows: list[UnitFigures], level: str, period: Period) -> str:
    levels = "".join(
        f'<option value="{lv}"{" selected" if lv == level else ""}>{lv.replace("_", "-")}</option>'
        for lv in REPORT_LEVELS
    )
    query = urlencode({"level": level, "from": period.start.isoformat(), "to": period.end.isoformat()})

    def pct(value: float | None) -> str:
        return "" if value is None else f"{value * 100:.0f}%"

    body_rows = "".join(
        f"<tr><td>{e(r.name)}</td><td>{r.received}</td><td>{r.resolved}</td><td>{pct(r.on_time_rate)}</td>"
        f"<td>{r.overdue}</td><td>{r.escalated}</td><td>{pct(r.satisfaction_rate)}</td>"
        f"<td>{e(r.average_handling_hours)}</td></tr>"
        for r in rows
    )
    body = (
        "<h1>Performance <small>绩效考核</small></h1>"
        '<form class="filters" method="get" action="/reports">'
        f'<label>Unit <select name="level">{levels}</select></label>'
        f'<label>From <input type="date" name="from" value="{period.start}"></label>'
        f'<label>To <input type="date" name="to" value="{period.end}"></label><button>Show</button> '
        f'<a id="csv" href="/reports.csv?{e(query)}">CSV</a></form>{bar_chart(rows)}'
        '<table class="board" id="report"><thead><tr><th>unit</th><th>received</th><th>resolved</th>'
        "<th>on time</th><th>overdue</th><th>escalated</th><th>satisfied</th><th>avg hours</th></tr></thead>"
        f"<tbody>{body_rows}</tbody></table>"
    )
    return layout("Reports", viewer, body, "/reports")

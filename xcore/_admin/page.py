"""``/xcore/admin``: the admin page, server-rendered, with no script and no external asset.

A browser cannot send ``X-Admin-Key``, so the page has a login form: the key posted once is exchanged
for a session cookie (:mod:`.auth`: ``HttpOnly``, ``SameSite=Strict``, never the key itself). Each button
is a small form carrying a CSRF token; it runs the same operation as the API (every worker, through
the fan-out) and answers the page again with the outcome on top.

Everything shown comes from plugins, services and configuration an operator does not fully control
(a plugin's name, its error text, an event's data), so every value is HTML-escaped, and the response
forbids scripts, frames and foreign resources (``Content-Security-Policy``).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xcore._admin.auth import COOKIE, SESSION_SECONDS
from xcore._admin.views import job_rows, plugin_rows, scrubbed, service_rows

if TYPE_CHECKING:
    from xcore._admin import Admin

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0} .ok,.loaded{color:#070} .error,.failed{color:#b00} .disabled{color:#777}
form.inline{display:inline} .notice{padding:.5em;border:1px solid #999;background:#ffd;margin-bottom:1em}
pre{white-space:pre-wrap;margin:0}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def add_page_routes(app: FastAPI, admin: Admin, prefix: str) -> None:
    """Add the page, its login and logout, and its buttons under ``prefix``."""

    def session_of(request: Request) -> str | None:
        token = request.cookies.get(COOKIE)
        return token if token is not None and admin.auth.session_valid(token) else None

    def page(body: str, status: int = 200) -> HTMLResponse:
        document = (
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>XCore admin</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>"
        )
        return HTMLResponse(document, status_code=status, headers=HEADERS)

    def login_form(message: str = "", status: int = 200) -> HTMLResponse:
        notice = f"<p class=notice>{_e(message)}</p>" if message else ""
        return page(
            f"<h1>XCore admin</h1>{notice}<form method=post action='{prefix}/login'>"
            f"<label>Admin key <input type=password name=key autocomplete=current-password></label> "
            f"<button type=submit>Log in</button></form>",
            status,
        )

    async def form_of(request: Request) -> dict[str, str]:
        """The page's small forms (a key, a token); a body of more fields is no form of ours: empty."""
        try:
            fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=8)
        except ValueError:
            return {}
        return {name: values[0] for name, values in fields.items()}

    @app.get(prefix, include_in_schema=False)
    async def admin_page(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return login_form()
        return page(await dashboard(admin, prefix, admin.auth.csrf_token(session)))

    @app.post(f"{prefix}/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        key = (await form_of(request)).get("key")
        if not key or not admin.auth.key_matches(key):
            return login_form("wrong admin key", 403)
        response = RedirectResponse(prefix, status_code=303, headers=HEADERS)
        response.set_cookie(
            COOKIE,
            admin.auth.new_session(),
            max_age=SESSION_SECONDS,
            path=prefix,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def checked(request: Request) -> tuple[str | None, Response | None]:
        """The session of a button's POST, or the answer refusing it (401 no session, 403 bad CSRF token)."""
        session = session_of(request)
        if session is None:
            return None, login_form("log in first", 401)
        if not admin.auth.csrf_valid(session, (await form_of(request)).get("csrf")):
            return None, page("<p class=notice>refused: missing or wrong CSRF token; reload the page</p>", 403)
        return session, None

    @app.post(f"{prefix}/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        _session, refused = await checked(request)
        if refused is not None:
            return refused
        response = RedirectResponse(prefix, status_code=303, headers=HEADERS)
        response.delete_cookie(COOKIE, path=prefix, httponly=True, samesite="strict")
        return response

    @app.post(f"{prefix}/plugins/{{name}}/{{action}}", include_in_schema=False)
    async def plugin_button(name: str, action: str, request: Request) -> Response:
        session, refused = await checked(request)
        if refused is not None or session is None:
            return refused or login_form()
        if action not in ("disable", "enable", "reload"):
            return page(f"<p class=notice>unknown action {_e(action)}</p>", 404)
        results = await admin.fanout.call(action, {"plugin": name})
        notice = outcome(f"{action} {name}", results, admin.secrets)
        return page(notice + await dashboard(admin, prefix, admin.auth.csrf_token(session)))

    @app.post(f"{prefix}/reload-config", include_in_schema=False)
    async def reload_button(request: Request) -> Response:
        session, refused = await checked(request)
        if refused is not None or session is None:
            return refused or login_form()
        results = await admin.fanout.call("reload-config", {})
        notice = outcome("reload configuration", results, admin.secrets)
        return page(notice + await dashboard(admin, prefix, admin.auth.csrf_token(session)))


def outcome(what: str, results: Sequence[dict[str, Any]], secrets: Any) -> str:
    """The notice on top of the page after a button: one line per worker."""
    lines = []
    for result in scrubbed(list(results), secrets):
        if result["ok"]:
            body = result["result"]
            detail = body.get("state") or body.get("status") or "done"
            if body.get("error"):
                detail += f": {body['error']}"
            if body.get("needs_restart"):
                detail += f"; needs a restart: {', '.join(body['needs_restart'])}"
        else:
            detail = f"refused: {result['error']}"
        lines.append(f"<li>{_e(result['worker'])}: {_e(detail)}</li>")
    return f"<div class=notice id=outcome><b>{_e(what)}</b><ul>{''.join(lines)}</ul></div>"


def _table(rows: Iterable[dict[str, Any]], columns: Sequence[str], extra: Any = None, cls: str = "") -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns) + ("<th></th>" if extra else "")
    body = []
    for row in rows:
        cells = "".join(
            f"<td class='{_e(row.get(c)) if c in ('state', 'health') else ''}'>{_e(row.get(c))}</td>" for c in columns
        )
        body.append(f"<tr>{cells}{f'<td>{extra(row)}</td>' if extra else ''}</tr>")
    empty = f"<tr><td colspan={len(columns) + bool(extra)}>(none)</td></tr>"
    return f"<table class='{cls}'><tr>{head}</tr>{''.join(body) or empty}</table>"


async def dashboard(admin: Admin, prefix: str, csrf: str) -> str:
    """The page's body: plugins with buttons, services, jobs, kernel events."""
    host = admin.host
    token = f"<input type=hidden name=csrf value='{_e(csrf)}'>"

    def buttons(row: dict[str, Any]) -> str:
        name = quote(str(row["name"]), safe="")
        actions = ["disable", "reload"] if row["state"] == "loaded" else ["enable"]
        return "".join(
            f"<form class=inline method=post action='{prefix}/plugins/{_e(name)}/{action}'>{token}"
            f"<button type=submit name=do value={action} data-plugin='{_e(row['name'])}'>{action}</button></form> "
            for action in actions
        )

    plugins = scrubbed(plugin_rows(host), admin.secrets)
    services = scrubbed(await service_rows(host), admin.secrets)
    jobs = scrubbed(await job_rows(host), admin.secrets)
    events = [{**e, "data": json.dumps(e["data"], default=str)} for e in scrubbed(admin.events.rows(), admin.secrets)]
    last = host.reloader.last
    reload_note = f"<p>last configuration reload: {_e(last.get('status'))}</p>" if last else ""
    shared = "every worker (events on Redis)" if admin.fanout.shared else "this worker only (no redis events service)"
    return (
        f"<h1>XCore admin <small>{_e(host.config.app.name)}</small></h1>"
        f"<p>worker {_e(admin.fanout.worker)}; buttons act on {_e(shared)}.</p>"
        f"<form class=inline method=post action='{prefix}/reload-config'>{token}"
        f"<button type=submit>reload configuration</button></form> "
        f"<form class=inline method=post action='{prefix}/logout'>{token}<button type=submit>log out</button></form>"
        f"{reload_note}"
        f"<h2>Plugins</h2>"
        + _table(plugins, ["name", "state", "version", "mounted_at", "in_flight", "error"], buttons, "plugins")
        + "<h2>Services</h2>"
        + _table(services, ["name", "kind", "type", "health", "latency_ms", "error"], cls="services")
        + "<h2>Jobs</h2>"
        + _table(jobs, ["plugin", "id", "trigger", "next_run", "last_outcome"], cls="jobs")
        + "<h2>Kernel events</h2>"
        + _table(events, ["at", "name", "data"], cls="events")
    )


__all__ = ["add_page_routes", "dashboard", "outcome"]

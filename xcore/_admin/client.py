"""The command line's side of the admin API: ``xcore plugins|services|jobs|health --url http://...``.

Plain ``urllib`` (no extra dependency), the key from ``--admin-key`` or ``$XCORE_ADMIN_KEY`` sent as
``X-Admin-Key``. The key is never printed: errors name the URL and the server's answer, and the
server's answers never contain it. Every request has a timeout, so a server that does not answer ends
the command with an error instead of a hang.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import click

from xcore._admin.api import PLUGIN_ACTIONS
from xcore._errors import XcoreError
from xcore._redaction import redact_text

T = TypeVar("T")
API = "/xcore/admin/api"
TIMEOUT = 60.0

url_option = click.option(
    "--url", envvar="XCORE_URL", default=None, metavar="URL",
    help="Ask the running server at URL (its admin API; default $XCORE_URL) instead of booting a copy from --config.",
)  # fmt: skip
admin_key_option = click.option(
    "--admin-key", envvar="XCORE_ADMIN_KEY", default=None, show_default=False, metavar="KEY",
    help="The server's app.admin_key (default $XCORE_ADMIN_KEY); sent as X-Admin-Key, never printed.",
)  # fmt: skip


class AdminClient:
    """Calls one server's admin API."""

    def __init__(self, url: str, admin_key: str | None) -> None:
        if not admin_key:
            raise XcoreError("the admin API needs the server's app.admin_key: --admin-key or $XCORE_ADMIN_KEY")
        self.url = url.rstrip("/")
        self._key = admin_key

    def get(self, path: str, **query: Any) -> tuple[int, Any]:
        return self._request("GET", path, query)

    def post(self, path: str, **query: Any) -> tuple[int, Any]:
        return self._request("POST", path, query)

    def _request(self, method: str, path: str, query: dict[str, Any]) -> tuple[int, Any]:
        params = urllib.parse.urlencode({k: str(v).lower() if isinstance(v, bool) else v
                                         for k, v in query.items() if v is not None})  # fmt: skip
        target = f"{self.url}{API}{path}" + (f"?{params}" if params else "")
        request = urllib.request.Request(target, method=method, data=b"" if method == "POST" else None,
                                         headers={"X-Admin-Key": self._key, "Accept": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                detail: Any = json.loads(body)
            except ValueError:
                detail = {"detail": body.decode("utf-8", "replace")[:200]}
            if exc.code in (401, 403):
                raise XcoreError(
                    f"{self.where}: the server refused the admin key ({exc.code}: "
                    f"{detail.get('detail') if isinstance(detail, dict) else detail})"
                ) from None
            if exc.code == 404 and isinstance(detail, dict) and detail.get("detail") == "Not Found":
                raise XcoreError(f"{self.where}: no admin API there (is app.admin_key set on the server?)") from None
            return exc.code, detail
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise XcoreError(f"cannot reach {self.where}: {reason}") from None

    @property
    def where(self) -> str:
        return redact_text(self.url)


def results_lines(results: list[dict[str, Any]]) -> tuple[list[str], bool]:
    """One line per worker of a fanned-out change, and whether every one succeeded."""
    lines, ok = [], True
    for entry in results:
        if entry.get("ok"):
            body = entry.get("result") or {}
            text = body.get("state") or body.get("status") or "done"
            if body.get("version"):
                text += f" (version {body['version']})"
            if body.get("error"):
                text += f": {body['error']}"
                ok = False
            for change in body.get("plugins", []) if isinstance(body.get("plugins"), list) else []:
                text += f"\n    {change.get('plugin')}: {change.get('action')} -> {change.get('state')}"
            if body.get("needs_restart"):
                text += f"\n    needs a restart to apply: {', '.join(body['needs_restart'])}"
        else:
            ok = False
            text = f"failed: {entry.get('error')}"
        lines.append(f"{entry.get('worker')}: {text}")
    return lines, ok


def change_command(action: str) -> click.Command:
    """``xcore plugins disable|enable|reload NAME --url URL``."""

    @click.command(action, help=f"{action.capitalize()} plugin NAME in every worker of the server at --url.")
    @click.argument("name")
    @url_option
    @admin_key_option
    @click.option("--local", is_flag=True, help="Only the worker that receives the call.")
    @click.option(
        "--wait",
        type=click.FloatRange(0, 30),
        default=3.0,
        show_default=True,
        help="Seconds to wait for the other workers' answers.",
    )
    @click.option(
        "--expect",
        type=click.IntRange(1),
        default=None,
        help="Stop waiting once this many workers answered (default: wait the whole --wait).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the JSON answer.")
    def command(
        name: str, url: str | None, admin_key: str | None, local: bool, wait: float, expect: int | None, as_json: bool
    ) -> None:
        if not url:
            raise click.UsageError(f"`xcore plugins {action}` acts on a running server: give --url (or $XCORE_URL)")
        path = f"/plugins/{urllib.parse.quote(name, safe='')}/{action}"
        print_results(
            remote(lambda client: client.post(path, local=local or None, wait=wait, expect=expect), url, admin_key)[1],
            as_json,
        )

    return command


def remote(call: Callable[[AdminClient], T], url: str, admin_key: str | None) -> T:
    """Run ``call`` against the server at ``url``; an unreachable server or a refused key exits 1 in one line."""
    from xcore._commands import fail

    try:
        return call(AdminClient(url, admin_key))
    except XcoreError as exc:
        fail(str(exc), 1)


def print_results(body: Any, as_json: bool) -> None:
    """Print a fanned-out answer; exit 1 when a worker failed or refused."""
    import sys

    if as_json:
        click.echo(json.dumps(body, indent=2))
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        from xcore._commands import fail

        fail(f"unexpected answer from the server: {json.dumps(body)[:300]}", 1)
    lines, ok = results_lines(results)
    if not as_json:
        click.echo("\n".join(lines))
    if not ok:
        sys.exit(1)


CHANGE_COMMANDS = [change_command(action) for action in PLUGIN_ACTIONS]

__all__ = [
    "CHANGE_COMMANDS",
    "AdminClient",
    "admin_key_option",
    "print_results",
    "remote",
    "results_lines",
    "url_option",
]

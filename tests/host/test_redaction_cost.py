"""Redaction runs on every log record, uvicorn's access log included, so its cost must be linear
in the text: a request with a long query string must not stall the server (issue 13, item 1)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import yaml

from xcore._redaction import MASK, redact_text

from .serving import xcore_serve
from .support import NO_SERVICES

HOSTILE_SHAPES = {
    "letters": "'a' * n",
    "a query string": "'GET /x?' + 'a' * n",
    "schemes": "'a://' * (n // 4)",
    "colons after ://": "'://' + 'a:' * (n // 2)",
    "a long userinfo": "'://:' + 'a' * n",
    "parameters": "'&a' * (n // 2)",
    "equals signs": "'?' + 'a=' * (n // 2)",
    "credentials": "'x://u:p@h/?key=v&' * (n // 18)",
}
"""Texts of about ``n`` characters that made the old patterns backtrack, as Python expressions."""

MEASURE = textwrap.dedent("""
    import json, sys, time
    from xcore._redaction import redact_text

    def cost(text, rounds):
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            redact_text(text, ["not-in-the-text"])
            best = min(best, time.perf_counter() - start)
        return best

    n = int(sys.argv[2])
    text_of = lambda n: eval(sys.argv[1])
    small, big = text_of(n // 64), text_of(n)
    print(json.dumps({"small": cost(small, 7), "big": cost(big, 1), "ratio": len(big) / len(small)}))
""")


def test_redaction_of_one_megabyte_costs_what_a_linear_scan_does() -> None:
    """Each hostile 1 MB text costs at most 8 times what 64 copies of its 16 KB version cost (plus a
    quarter second for a busy machine); a quadratic pattern costs 4,096 times as much, or minutes,
    so the measurement runs in a subprocess with a deadline instead of hanging the suite."""
    for shape, expression in HOSTILE_SHAPES.items():
        try:
            result = subprocess.run(
                [sys.executable, "-c", MEASURE, expression, str(1_000_000)],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"redacting 1 MB of {shape} took more than 60 s") from None
        cost = json.loads(result.stdout)
        allowed = cost["ratio"] * 8 * cost["small"] + 0.25
        assert cost["big"] < allowed, f"{shape}: 1 MB took {cost['big']:.3f}s, linear allows {allowed:.3f}s ({cost})"


def test_a_long_run_of_letters_keeps_the_masking_of_what_follows_it() -> None:
    text = "a" * 200_000 + " redis://u:pw-after-letters@h/0?token=tok-after-letters"
    cleaned = redact_text(text)
    assert "pw-after-letters" not in cleaned and "tok-after-letters" not in cleaned
    assert cleaned.endswith(f"redis://u:{MASK}@h/0?token={MASK}")


def test_a_config_with_a_long_string_value_is_checked_promptly(tmp_path: Path) -> None:
    """``config check`` redacts every value it prints: 500 KB of letters must not hang it."""
    path = tmp_path / "integration.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "services": NO_SERVICES,
                "plugins": {"settings": {"p": {"blob": "a" * 500_000, "dsn": "postgresql://u:long-value-pw@h/db"}}},
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "xcore", "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "a" * 500_000 in result.stdout and "long-value-pw" not in result.stdout


def _send_without_reading(port: int, target: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    return sock


def test_long_query_strings_do_not_stall_a_served_host(tmp_path: Path) -> None:
    """Four requests of 60,000 letters each (about 2 s of redaction apiece with the old pattern),
    then ``/health`` on another connection: it answers at once, because the access-log lines of
    the long requests are redacted in linear time."""
    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump({"services": NO_SERVICES, "plugins": {"enabled": []}}))
    with xcore_serve(path) as served:
        assert served.get("/health")[0] == 200
        hostile = [_send_without_reading(served.port, "/x?" + "a" * 60_000) for _ in range(4)]
        answered: list[float] = []

        def probe() -> None:
            start = time.monotonic()
            if served.get("/health", timeout=60)[0] == 200:
                answered.append(time.monotonic() - start)

        thread = threading.Thread(target=probe)
        time.sleep(0.1)  # the long requests are in the server's hands
        thread.start()
        thread.join(60)
        statuses = [sock.recv(64).split(b" ")[1] for sock in hostile]
        for sock in hostile:
            sock.close()
    assert answered and answered[0] < 3.0, f"/health took {answered} while long query strings were logged"
    assert statuses == [b"404"] * 4
    assert "GET /x?aaaa" in served.log_text()  # the access log did see (and redact) the long requests

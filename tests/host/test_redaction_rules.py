"""What :mod:`xcore._redaction` masks, and how log records stay usable once masked."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter

from xcore._redaction import MASK, install_redaction, is_secret_key, redact, redact_text, secret_values


def test_a_credential_quoted_inside_another_parameter_is_masked() -> None:
    text = "GET /login?next=redis://cache/0?password=pw-inside&x=1 HTTP/1.1"
    assert redact_text(text) == f"GET /login?next=redis://cache/0?password={MASK}&x=1 HTTP/1.1"


def test_a_credential_value_holding_a_question_mark_is_masked_whole() -> None:
    assert redact_text("x://h/?token=ab?cd&y=2") == f"x://h/?token={MASK}&y=2"


def test_key_is_a_credential_in_a_url_but_key_prefix_is_not_a_secret_setting() -> None:
    assert redact_text("https://maps/api?key=k-123&cache_key=c-1") == f"https://maps/api?key={MASK}&cache_key={MASK}"
    assert not is_secret_key("key_prefix") and is_secret_key("sslpassword") and is_secret_key("pwd")


def test_empty_values_and_other_parameters_are_left_alone() -> None:
    assert redact_text("x://h/?password=&db=0&user=app") == "x://h/?password=&db=0&user=app"


def test_a_secret_containing_another_is_masked_whole() -> None:
    assert redact_text("both: hunter2-long and hunter2", ["hunter2", "hunter2-long"]) == f"both: {MASK} and {MASK}"


def test_a_url_password_is_known_in_its_encoded_and_decoded_spellings() -> None:
    found = secret_values({"url": "redis://cache/0?password=p%40ss%2Fword"})
    assert {"p%40ss%2Fword", "p@ss/word"} <= found
    assert redact_text("driver said: bad password p@ss/word", found) == f"driver said: bad password {MASK}"


def test_config_output_masks_a_secret_repeated_under_an_innocent_key() -> None:
    tree = {"db": {"url": "postgresql://app:hunter22@db/app"}, "banner": "welcome, hunter22"}
    assert redact(tree) == {"db": {"url": f"postgresql://app:{MASK}@db/app"}, "banner": f"welcome, {MASK}"}


@pytest.fixture
def access_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger formatted as uvicorn's access log, which unpacks ``record.args``, with redaction on."""
    undo = install_redaction({"app": {"api_key": "known-api-key"}})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    logger = logging.getLogger("test.redaction.access")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)
    undo()


def test_a_masked_access_log_line_keeps_its_arguments_for_uvicorns_formatter(
    access_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = access_log
    path = "/x?next=redis://u:pw-1@h/0&token=tok-2&key=known-api-key"
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", path, "1.1", 200)
    assert (
        stream.getvalue()
        == f'127.0.0.1:1 - "GET /x?next=redis://u:{MASK}@h/0&token={MASK}&key={MASK} HTTP/1.1" 200 OK\n'
    )


def test_a_secret_split_between_format_and_argument_still_ends_masked(caplog: pytest.LogCaptureFixture) -> None:
    undo = install_redaction({"password": "known-api-key"})
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("test.redaction").info("key is known-%s", "api-key")
        assert caplog.records[-1].getMessage() == f"key is {MASK}"
    finally:
        undo()

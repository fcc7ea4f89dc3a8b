"""Carry events between processes over Redis publish/subscribe, one channel per application.

Local handlers never wait for Redis: ``publish`` only encodes the event and queues it, and a
background task sends the queue in pipelined batches. Each message carries this transport's
instance id, so when it comes back from Redis the emitting process skips it (its local handlers
already ran). Delivery is at-most-once: a message published while a subscriber is disconnected,
or while Redis is down, is lost. Events that must not be lost belong in the scheduler or a table.

The subscriber reconnects by itself (with a capped backoff) when Redis comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from typing import Any

from redis.asyncio import Redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from xcore._events.bus import EventBus
from xcore._events.errors import EventDataError
from xcore._events.patterns import RESERVED_PREFIX, InvalidEventName
from xcore._observability import tracing
from xcore._redaction import redact_text

FIRST_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 1.0
WARN_EVERY = 10.0  # seconds between repeated warnings during one outage
FLUSH_TIMEOUT = 2.0


def _describe(exc: BaseException) -> str:
    text = str(exc)
    described: str = redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
    return described


class RedisTransport:
    """Publishes this process's events and delivers other processes' events to the local bus."""

    def __init__(
        self,
        bus: EventBus,
        url: str,
        channel: str,
        *,
        logger: logging.Logger | None = None,
        max_pending: int = 10_000,
    ) -> None:
        self.bus = bus
        self.url = url
        self.channel = channel
        self.max_pending = max_pending
        self.log = logger or logging.getLogger("xcore.events.redis")
        self.instance_id = uuid.uuid4().hex
        self.subscribed = False
        self.published = 0
        self.received = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._outbox: deque[str] = deque()
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._attempted = asyncio.Event()
        self._closed = False
        self._publisher: asyncio.Task[None] | None = None
        self._subscriber: asyncio.Task[None] | None = None
        self._pub: Redis | None = None
        self._sub: Redis | None = None
        self._publish_failing_since: float | None = None
        self._dropped_in_outage = 0
        self._last_warning = 0.0

    @property
    def where(self) -> str:
        """The channel and the server, password masked, for messages."""
        return f"channel {self.channel!r} on {redact_text(self.url)}"

    # ------------------------------------------------------------------ lifecycle

    async def start(self, timeout: float = 10.0) -> None:
        """Connect and subscribe; if Redis does not answer, raise but keep retrying in the background."""
        self._pub = Redis.from_url(
            self.url,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        )
        # The subscriber's reconnection is ours (see _subscribe_loop); redis-py must not retry on its own.
        self._sub = Redis.from_url(self.url, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0))
        self._publisher = asyncio.create_task(self._publish_loop(), name=f"xcore-events-publish:{self.channel}")
        self._subscriber = asyncio.create_task(self._subscribe_loop(), name=f"xcore-events-subscribe:{self.channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), timeout)
        if not self.subscribed:
            raise ConnectionError(
                f"cannot subscribe to {self.where}: {self.last_error or 'no answer'}; "
                f"local handlers work and the subscriber keeps retrying"
            )

    async def health(self) -> dict[str, Any]:
        if not self.subscribed:
            raise ConnectionError(f"not subscribed to {self.where}: {self.last_error or 'connecting'}")
        assert self._pub is not None
        await self._pub.ping()
        return {
            "channel": self.channel,
            "instance": self.instance_id,
            "published": self.published,
            "received": self.received,
            "dropped": self.dropped,
        }

    async def close(self) -> None:
        """Send what is queued (bounded), stop both tasks and close the connections."""
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while (self._outbox or self._in_flight) and self._publish_failing_since is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        self._closed = True
        for task in (self._publisher, self._subscriber):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._outbox:
            self.dropped += len(self._outbox)
            self.log.warning("events: %d event(s) not published to %s at close", len(self._outbox), self.where)
            self._outbox.clear()
        for client in (self._pub, self._sub):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self.subscribed = False

    # ------------------------------------------------------------------ publishing

    def publish(self, name: str, data: Any, source: str | None) -> None:
        """Encode the event and queue it for the publisher task; bad data raises ``EventDataError``."""
        if name.startswith(RESERVED_PREFIX):
            return  # kernel events describe this process; they stay in it
        try:
            envelope = {"i": self.instance_id, "n": name, "s": source, "d": data}
            if tracing.TRACER is not None and (parent := tracing.traceparent()) is not None:
                envelope["t"] = parent  # W3C traceparent: the receiving process continues this trace
            message = json.dumps(envelope, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise EventDataError(
                f"event {name!r}: its data cannot be sent to other processes because the redis events backend "
                f"needs JSON-serialisable data (dicts, lists, strings, numbers, booleans, None): {exc}"
            ) from exc
        if self._closed:
            self.dropped += 1
            self.log.warning("event %r not published: the events service is closed", name)
            return
        if len(self._outbox) >= self.max_pending:
            self.dropped += 1
            self._warn(f"events: publish queue full ({self.max_pending}); event {name!r} dropped")
            return
        self._outbox.append(message)
        self._wake.set()

    async def _publish_loop(self) -> None:
        assert self._pub is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = list(self._outbox)
                self._outbox.clear()
                self._in_flight = len(batch)
                try:
                    if len(batch) == 1:
                        await self._pub.publish(self.channel, batch[0])
                    else:
                        async with self._pub.pipeline(transaction=False) as pipe:
                            for message in batch:
                                pipe.publish(self.channel, message)
                            await pipe.execute()
                except asyncio.CancelledError:
                    self._outbox.extendleft(reversed(batch))
                    raise
                except Exception as exc:
                    self._publish_failed(exc, len(batch))
                else:
                    self.published += len(batch)
                    self._publish_recovered()
                finally:
                    self._in_flight = 0

    def _publish_failed(self, exc: Exception, count: int) -> None:
        self.dropped += count
        self.last_error = _describe(exc)
        if self._publish_failing_since is None:
            self._publish_failing_since = time.monotonic()
            self._dropped_in_outage = 0
            self._last_warning = 0.0
        self._dropped_in_outage += count
        self._warn(
            f"events: publishing to {self.where} failed ({self.last_error}); {self._dropped_in_outage} event(s) "
            f"dropped so far, local handlers still run"
        )

    def _publish_recovered(self) -> None:
        if self._publish_failing_since is not None:
            self.log.info(
                "events: publishing to %s again; %d event(s) were dropped during the outage",
                self.where,
                self._dropped_in_outage,
            )
            self._publish_failing_since = None

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            self.log.warning("%s", message)

    # ------------------------------------------------------------------ subscribing

    async def _subscribe_loop(self) -> None:
        assert self._sub is not None
        delay = FIRST_RETRY_DELAY
        lost_at: float | None = None
        while True:
            pubsub = self._sub.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "message":
                        await self._receive(message["data"])
                    elif kind == "subscribe":  # the server confirmed: from now on nothing is missed
                        self.subscribed = True
                        self._attempted.set()
                        delay = FIRST_RETRY_DELAY
                        if lost_at is not None:
                            self.log.info(
                                "events: subscribed again to %s after %.1fs", self.where, time.monotonic() - lost_at
                            )
                            lost_at = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed = False
                self.last_error = _describe(exc)
                self._attempted.set()
                if lost_at is None:
                    lost_at = time.monotonic()
                    self.log.warning(
                        "events: not subscribed to %s (%s); events from other processes are missed until it reconnects",
                        self.where,
                        self.last_error,
                    )
            finally:
                self.subscribed = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)

    async def _deliver_traced(self, name: str, data: Any, source: Any, parent: Any) -> None:
        """Deliver inside a span continuing the emitter's trace (its ``traceparent`` came in the envelope)."""
        from opentelemetry.trace import SpanKind

        origin = source if isinstance(source, str) else None
        with tracing.TRACER.start_as_current_span(
            f"event {name} received", context=tracing.remote_context(parent), kind=SpanKind.CONSUMER,
            attributes={"xcore.event": name, **({tracing.PLUGIN: origin} if origin else {})},
        ):  # fmt: skip
            await self.bus.deliver(name, data, origin, remote=True)

    async def _receive(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
            origin, name, source, data = message["i"], message["n"], message.get("s"), message.get("d")
            if not isinstance(name, str):
                raise TypeError("event name is not a string")
        except Exception as exc:
            self.log.warning("events: ignored a malformed message on %s: %s", self.where, _describe(exc))
            return
        if origin == self.instance_id or name.startswith(RESERVED_PREFIX):
            return
        self.received += 1
        try:
            if tracing.TRACER is not None:
                await self._deliver_traced(name, data, source, message.get("t"))
            else:
                await self.bus.deliver(name, data, source if isinstance(source, str) else None, remote=True)
        except InvalidEventName as exc:
            self.log.warning("events: ignored a message with an invalid name on %s: %s", self.where, exc)

"""An SQS queue between the outbox and the workers (the reference architecture's shape).

The outbox stays the source of truth; SQS only carries *pointers* to its rows:

* :class:`SqsRelay` claims outbox events not yet relayed (``FOR UPDATE SKIP LOCKED``),
  sends one message per key (``{"sync", "key", "ids"}``) with ``send_message_batch``
  and marks the events ``relayed_at`` in the same transaction. A crash between the send
  and the commit only duplicates messages. FIFO queues (``….fifo``) get
  ``MessageGroupId`` = the key and ``MessageDeduplicationId`` = hash(sync, key, ids).
  Events relayed more than ``resend_after_seconds`` ago and still in the outbox (SQS
  dropped the message: retention, purge, a redrive policy) are sent again.
* :class:`SqsConsumer` receives messages, takes the per-key advisory lock, keeps the
  message's outbox ids that still exist (none left: a duplicate, deleted at once), runs
  the same :class:`~slabdb.sync.processor.KeyProcessor` (which reads the *current* row, so
  order and duplicates are harmless), deletes the events, commits, and only then
  deletes the SQS message. A consumer that dies leaves its messages in flight: they
  reappear after the visibility timeout and the events are still in the outbox.
  A failed key is rescheduled like in the outbox worker (``attempts`` counts failures;
  the message becomes visible after the backoff delay); after ``max_attempts`` failures,
  or ``max_receives`` deliveries without success (a message that keeps killing its
  consumer), the events move to ``slabdb_sync.errors`` and the message is deleted.

Use one queue per sync. Messages of another sync are returned to the queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from slabdb.embed.base import Embedder
from slabdb.sync.config import SCHEMA, SyncConfig
from slabdb.sync.metrics import SyncMetrics
from slabdb.sync.outbox import KeyClaim
from slabdb.sync.processor import ProcessResult
from slabdb.sync.target import SyncTarget
from slabdb.sync.worker import OutboxLoop, SyncWorker, WorkerSettings

logger = logging.getLogger(__name__)

DEFAULT_WAIT_SECONDS = 10
"""Long-poll length of one receive (SQS allows 0-20)."""
DEFAULT_MAX_RECEIVES = 20
"""Deliveries of one message without success before its key goes to the errors table."""
DEFAULT_BUSY_RETRY_SECONDS = 2
"""Another consumer holds the key: look again after this long."""
DEFAULT_RESEND_AFTER_SECONDS = 3600.0
SQS_BATCH = 10
"""Entries per send/delete/change-visibility batch and messages per receive (SQS max)."""
MESSAGE_VERSION = 1


def sqs_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 SQS client (credentials and endpoint from the usual AWS settings)."""
    import boto3

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.client("sqs", endpoint_url=endpoint_url, region_name=region or "us-east-1")


class SqsRefusedError(RuntimeError):
    """SQS accepted none of a relay batch; the events stay in the outbox."""


def transient_sqs_errors() -> tuple[type[BaseException], ...]:
    """What the relay and consumer loops survive (reconnect, wait, carry on)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (psycopg.OperationalError, BotoCoreError, ClientError, SqsRefusedError)


def encode_message(sync: str, key: str, ids: Sequence[int]) -> str:
    return json.dumps({"v": MESSAGE_VERSION, "sync": sync, "key": key, "ids": list(ids)})


def decode_message(body: str) -> tuple[str, str, list[int]]:
    """``(sync, key, outbox ids)``; raises ``ValueError`` for a foreign body."""
    data = json.loads(body)
    if not isinstance(data, dict) or data.get("v") != MESSAGE_VERSION:
        raise ValueError("not a slabdb sync message")
    return str(data["sync"]), str(data["key"]), [int(i) for i in data["ids"]]


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _batches(items: Sequence[Any], size: int = SQS_BATCH) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class SqsRelay(OutboxLoop):
    """Moves outbox events into an SQS queue (wakes on NOTIFY like a worker)."""

    def __init__(
        self,
        dsn: str,
        cfg: SyncConfig,
        client: Any,
        queue_url: str,
        settings: WorkerSettings | None = None,
        *,
        resend_after_seconds: float = DEFAULT_RESEND_AFTER_SECONDS,
    ) -> None:
        super().__init__(dsn, cfg, settings)
        self.transient_errors = transient_sqs_errors()
        self.client = client
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self.resend_after_seconds = resend_after_seconds

    def run_batch(self) -> int:
        """Relay up to ``batch_keys * 4`` events; returns how many were sent."""
        conn = self._connection()
        with conn.transaction():
            rows = conn.execute(
                f"SELECT id, key FROM {SCHEMA}.outbox WHERE sync = %s AND (relayed_at IS NULL"
                f" OR relayed_at < clock_timestamp() - make_interval(secs => %s))"
                f" ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self.cfg.name, self.resend_after_seconds, self.settings.batch_keys * 4),
            ).fetchall()
            if not rows:
                return 0
            groups: dict[str, list[int]] = {}
            for event_id, key in rows:
                groups.setdefault(key, []).append(event_id)
            sent = self._send(list(groups.items()))
            if sent:
                conn.execute(
                    f"UPDATE {SCHEMA}.outbox SET relayed_at = clock_timestamp() WHERE id = ANY(%s)",
                    (sent,),
                )
        if not sent:
            raise SqsRefusedError(f"sync {self.cfg.name}: SQS accepted none of {len(rows)} events")
        return len(sent)

    def _send(self, groups: list[tuple[str, list[int]]]) -> list[int]:
        sent: list[int] = []
        for chunk in _batches(groups):
            entries = []
            for n, (key, ids) in enumerate(chunk):
                entry: dict[str, Any] = {
                    "Id": str(n),
                    "MessageBody": encode_message(self.cfg.name, key, ids),
                }
                if self.fifo:
                    entry["MessageGroupId"] = _digest(self.cfg.name, key)[:64]
                    entry["MessageDeduplicationId"] = _digest(self.cfg.name, key, ids)[:64]
                entries.append(entry)
            res = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for ok in res.get("Successful", []):
                sent.extend(chunk[int(ok["Id"])][1])
            for failed in res.get("Failed", []):
                logger.warning(
                    "sync %s: SQS refused a message (%s: %s); it stays in the outbox",
                    self.cfg.name,
                    failed.get("Code"),
                    failed.get("Message"),
                )
        return sent


@dataclass(frozen=True)
class SqsSettings:
    queue_url: str
    wait_seconds: int = DEFAULT_WAIT_SECONDS
    visibility_timeout: int | None = None
    """Per-receive override of the queue's visibility timeout (seconds)."""
    max_receives: int = DEFAULT_MAX_RECEIVES
    busy_retry_seconds: int = DEFAULT_BUSY_RETRY_SECONDS


@dataclass
class _Held:
    """The received messages of one key."""

    key: str
    receipts: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    receives: int = 0


class SqsConsumer(SyncWorker):
    """A worker fed by SQS instead of claiming from the outbox."""

    def __init__(
        self,
        dsn: str,
        cfg: SyncConfig,
        embedder: Embedder,
        target: SyncTarget,
        client: Any,
        sqs: SqsSettings,
        settings: WorkerSettings | None = None,
        metrics: SyncMetrics | None = None,
    ) -> None:
        super().__init__(dsn, cfg, embedder, target, settings, metrics)
        self.transient_errors = transient_sqs_errors()
        self.client = client
        self.sqs = sqs

    def receive(self) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "QueueUrl": self.sqs.queue_url,
            "MaxNumberOfMessages": SQS_BATCH,
            "WaitTimeSeconds": self.sqs.wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if self.sqs.visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = self.sqs.visibility_timeout
        return list(self.client.receive_message(**kwargs).get("Messages", []))

    def run_batch(self) -> int:
        """Receive up to 10 messages and settle them; returns how many were received."""
        messages = self.receive()
        if not messages:
            return 0
        started = time.perf_counter()
        held: dict[str, _Held] = {}
        delete: list[str] = []
        delay: list[tuple[str, int]] = []
        for msg in messages:
            try:
                sync, key, ids = decode_message(msg["Body"])
            except (ValueError, KeyError, TypeError):
                logger.warning("sync %s: deleting a foreign SQS message", self.cfg.name)
                delete.append(msg["ReceiptHandle"])
                continue
            if sync != self.cfg.name:
                delay.append((msg["ReceiptHandle"], 0))
                continue
            h = held.setdefault(key, _Held(key))
            h.receipts.append(msg["ReceiptHandle"])
            h.ids.extend(ids)
            count = int(msg.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            h.receives = max(h.receives, count)
        result = ProcessResult()
        claims: list[KeyClaim] = []
        if held:
            conn = self._connection()
            with conn.transaction():
                claims = self._claim(conn, held, delete, delay)
                live = [c for c in claims if c.event_ids]
                if live:
                    result = self._process(conn, [c.key for c in live])
                    self._settle_sqs(conn, live, held, result, delete, delay)
        self._acknowledge(delete, delay)
        if claims:
            self._record(
                result, len([c for c in claims if c.event_ids]), time.perf_counter() - started
            )
        return len(messages)

    def _claim(
        self,
        conn: psycopg.Connection,
        held: dict[str, _Held],
        delete: list[str],
        delay: list[tuple[str, int]],
    ) -> list[KeyClaim]:
        """Lock the keys; keep the message ids still queued. Duplicates go to ``delete``,
        keys another consumer holds to ``delay``, poison messages to the errors table."""
        keys = list(held)
        locked = {
            r[0]
            for r in conn.execute(
                "SELECT k FROM unnest(%s::text[]) AS k"
                " WHERE pg_try_advisory_xact_lock(hashtextextended(%s || ':' || k, 0))",
                (keys, self.cfg.name),
            )
        }
        for key in keys:
            if key not in locked:
                delay.extend((r, self.sqs.busy_retry_seconds) for r in held[key].receipts)
        ids = [i for k in locked for i in held[k].ids]
        claims = {k: KeyClaim(k) for k in locked}
        for event_id, key, op, attempts in conn.execute(
            f"SELECT id, key, op, attempts FROM {SCHEMA}.outbox"
            f" WHERE sync = %s AND id = ANY(%s) ORDER BY id FOR UPDATE",
            (self.cfg.name, ids),
        ):
            if key in claims:
                claim = claims[key]
                claim.event_ids.append(event_id)
                claim.ops.append(op)
                claim.attempts = max(claim.attempts, attempts)
        for key, claim in claims.items():
            h = held[key]
            if not claim.event_ids:
                delete.extend(h.receipts)  # already processed: a duplicate
            elif h.receives > self.sqs.max_receives:
                reason = f"SQS delivered the key {h.receives} times without success"
                logger.warning("sync %s: key %s: %s", self.cfg.name, key, reason)
                self.queue.give_up(conn, claim, reason)
                delete.extend(h.receipts)
                claim.event_ids = []
        return list(claims.values())

    def _settle_sqs(
        self,
        conn: psycopg.Connection,
        claims: list[KeyClaim],
        held: dict[str, _Held],
        result: ProcessResult,
        delete: list[str],
        delay: list[tuple[str, int]],
    ) -> None:
        self.queue.ack(conn, [c for c in claims if c.key not in result.failed])
        for claim in claims:
            receipts = held[claim.key].receipts
            error = result.failed.get(claim.key)
            if error is None:
                delete.extend(receipts)
                continue
            decision = self.settings.retry.decide(error, claim.attempts + 1)
            if decision.give_up:
                logger.warning(
                    "sync %s: key %s failed for good: %s", self.cfg.name, claim.key, decision.reason
                )
                self.queue.give_up(conn, claim, decision.reason)
                delete.extend(receipts)
            else:
                self.queue.reschedule(conn, claim, decision.delay_seconds, decision.reason)
                seconds = min(43_200, math.ceil(decision.delay_seconds))
                delay.extend((r, seconds) for r in receipts)

    def _acknowledge(self, delete: list[str], delay: list[tuple[str, int]]) -> None:
        """After the commit: delete settled messages, set the visibility of the others."""
        for chunk in _batches(delete):
            self.client.delete_message_batch(
                QueueUrl=self.sqs.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(chunk)],
            )
        for part in _batches(delay):
            self.client.change_message_visibility_batch(
                QueueUrl=self.sqs.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": r, "VisibilityTimeout": s}
                    for n, (r, s) in enumerate(part)
                ],
            )

    def _wait(self, stop: threading.Event) -> None:
        return None  # the long-poll receive is the wait

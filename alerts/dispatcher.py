"""Delivering the outbox: lanes, leases, pacing, retries, fallback, crash recovery.

Guarantees (see docs/explanation/durability.md, "Alert delivery"):

- A row is claimed by compare-and-set with a lease before it is sent, so two dispatchers never
  send the same row; a crashed dispatcher's lease is taken over when it expires, or at once when
  its process is known to be gone (same host, pid not running).
- Before sending, the attempt is recorded (``attempt_started_at``, committed). After success the
  result (Slack's channel and ``ts``) is committed. A crash between the two leaves an attempt of
  unknown outcome: the next dispatcher first asks the receiver (``Sender.reconcile``; Slack bot
  messages carry their outbox key in message metadata) and only sends if it did not arrive.
- A row is retried with exponential backoff on 5xx and connection errors, after ``Retry-After``
  on 429, and moved to the receiver's ``fallback`` when the receiver has failed for
  ``fallback_after`` (or refuses the payload outright); a receiver that is down gets one row at a
  time as a probe, at growing intervals, and its notifications again once a probe arrives
  (``alerts.health``). Rows are delivered in order per lane
  (channel or webhook) and each lane is paced to one request per ``pace`` (1 s: Slack's
  per-channel limit).
- Pacing holds across processes: each request takes its send slot from the store
  (``alert_channel_pacing``), so several dispatchers on one outbox together keep the pace, and
  a ``Retry-After`` holds the lane back for all of them.
- Lanes are delivered independently: each ready lane's head goes to a worker of a bounded pool
  (one request in flight per lane), so a hung request delays its own channel only.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields

from alerts.config import AlertsConfig, Integration
from alerts.health import ReceiverHealth, retry_delay
from alerts.model import Clock
from alerts.outbox import OutboxItem, Status, fallback_rows, integration_of
from alerts.senders import Delivery, DeliveryError, Sender
from alerts.store import AlertStore
from vitals.kernel.lease import new_owner, owner_alive

log = logging.getLogger(__name__)

#: How far before a recorded attempt to look for its message when reconciling.
RECONCILE_MARGIN_S = 60.0
#: Longest sleep between looks at the outbox while rows wait (backoff, pacing, leases).
POLL_S = 1.0
#: Lanes delivered at once: this many channels may hang before a ready one waits for a worker.
LANE_WORKERS = 8
#: Longest wait for a send slot while holding a row's lease; a later slot puts the row back.
SLOT_WAIT_S = 5.0


@dataclass
class DispatchStats:
    sent: int = 0
    reconciled: int = 0
    retried: int = 0
    rate_limited: int = 0
    failed_over: int = 0
    dead: int = 0
    skipped: int = 0

    def add(self, other: DispatchStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def total(self) -> int:
        return (
            self.sent
            + self.reconciled
            + self.retried
            + self.rate_limited
            + self.failed_over
            + self.dead
            + self.skipped
        )


class Pacer:
    """When this process expects each lane to be free: a scheduling hint (the store decides)."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    def wait(self, lane: str, now: float) -> float:
        return max(0.0, self._next.get(lane, 0.0) - now)

    def sent(self, lane: str, now: float, pace: float) -> None:
        self._next[lane] = max(self._next.get(lane, 0.0), now + pace)

    def block(self, lane: str, until: float) -> None:
        self._next[lane] = max(self._next.get(lane, 0.0), until)


class Dispatcher:
    def __init__(
        self,
        store: AlertStore,
        config: Callable[[], AlertsConfig],
        senders: Callable[[Integration], Sender],
        *,
        clock: Clock = time.time,
        sleep: Callable[[float], object] = time.sleep,
        owner: str | None = None,
        stop: threading.Event | None = None,
        rng: random.Random | None = None,
        on_outcome: Callable[[OutboxItem, str], None] | None = None,
        workers: int = LANE_WORKERS,
    ) -> None:
        self.store = store
        self.config = config
        self.senders = senders
        self.clock = clock
        self.sleep = sleep
        self.owner = owner or new_owner()
        self.stop = stop or threading.Event()
        self.rng = rng or random.Random()
        self.on_outcome = on_outcome
        self.pacer = Pacer()
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._busy: dict[str, Future[None]] = {}  # lane -> its delivery in flight
        self._tally = DispatchStats()  # outcomes of worker deliveries not yet reported
        self._tally_lock = threading.Lock()
        self._lookups: dict[str, threading.Lock] = {}
        self.health = ReceiverHealth(self.rng)
        self.down_since = self.health.down_since

    # --- scheduling ----------------------------------------------------------------------------

    def _claimable(self, item: OutboxItem, now: float) -> bool:
        if item.status == "pending":
            return item.not_before <= now
        if item.status == "sending":
            if item.lease_until is not None and item.lease_until <= now:
                return True  # its dispatcher (maybe this one, after an error) let the lease lapse
            return item.lease_owner != self.owner and owner_alive(item.lease_owner) is False
        return False

    def run_once(self, budget: float = 10.0) -> DispatchStats:
        """Deliver what is due for up to ``budget`` seconds; returns early when idle.

        A delivery still in flight at the end (a hung request) keeps its lane busy; its outcome
        is counted by a later call.
        """
        deadline = self.clock() + budget
        while not self.stop.is_set():
            now = self.clock()
            if now >= deadline:
                break
            busy = self._busy_lanes()
            ready: list[OutboxItem] = []
            wake: list[float] = []
            for item in self.store.outbox_heads(500):
                if item.target in busy:
                    continue
                if self._claimable(item, now):
                    wait_s = self.pacer.wait(item.target, now)
                    if wait_s <= 0:
                        ready.append(item)
                    else:
                        wake.append(now + wait_s)
                elif item.status == "pending":
                    wake.append(max(item.not_before, now + self.pacer.wait(item.target, now)))
                elif item.lease_until is not None:
                    wake.append(item.lease_until)
            free = self.workers - len(busy)
            for item in ready[: max(free, 0)]:
                if self.stop.is_set():
                    break
                self._start(item)
            if ready and free > 0:
                continue
            if busy or ready:
                # Wait for a lane to finish (in real time: a worker's request), but look again
                # at least every poll interval for rows of other lanes coming due.
                limit = min([*wake, deadline, now + POLL_S])
                self._wait_any(max(0.0, limit - now))
                continue
            if not wake:
                break  # idle: nothing unfinished
            # Wait for the earliest row, but look again at least every poll interval so
            # newly planned notifications do not wait behind a long backoff.
            self.sleep(max(0.0, min(*wake, deadline, now + POLL_S) - now))
        if not self._busy_lanes() and self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        return self._take_tally()

    # --- lanes in flight -----------------------------------------------------------------------

    def _busy_lanes(self) -> set[str]:
        for lane in [lane for lane, future in self._busy.items() if future.done()]:
            del self._busy[lane]
        return set(self._busy)

    def _start(self, item: OutboxItem) -> None:
        """Deliver the head of a lane: on the pool, or here when it has one worker."""
        if self.workers == 1:
            self._run_lane(item)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="alerts-lane")
        self._busy[item.target] = self._pool.submit(self._run_lane, item)

    def _run_lane(self, item: OutboxItem) -> None:
        stats = DispatchStats()
        try:
            self._deliver(item, stats)
        except Exception:  # the store failed: the row's lease lapses and it is taken again
            log.exception("delivering outbox row %s failed", item.key)
        finally:
            with self._tally_lock:
                self._tally.add(stats)

    def _wait_any(self, timeout: float) -> None:
        futures = list(self._busy.values())
        if futures:
            wait(futures, timeout=min(timeout, POLL_S), return_when=FIRST_COMPLETED)

    def _lookup_lock(self, lane: str) -> threading.Lock:
        """One look-up of earlier attempts at a time per Slack workspace (other lanes: per lane).

        Slack rate-limits its read methods per workspace, and the senders share what a look-up
        learnt (channel ids, a ``Retry-After``): lanes looking up one after the other make one
        request where concurrent ones would each make their own.
        """
        key = lane.rsplit(":", 1)[0] if lane.startswith("slack:") else lane
        with self._tally_lock:
            return self._lookups.setdefault(key, threading.Lock())

    def _take_tally(self) -> DispatchStats:
        with self._tally_lock:
            tally, self._tally = self._tally, DispatchStats()
        return tally

    # --- one row -------------------------------------------------------------------------------

    def _outcome(self, item: OutboxItem, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(item, outcome)

    def _deliver(self, head: OutboxItem, stats: DispatchStats) -> None:
        config = self.config()
        now = self.clock()
        integration = integration_of(config.receivers, head)
        if integration is None:
            self.store.outbox_finish(
                head, "dead", f"{head.receiver} {head.integration} is no longer configured"
            )
            log.error(
                "outbox row %s: receiver %s/%s is no longer configured",
                head.key,
                head.receiver,
                head.integration,
            )
            stats.dead += 1
            self._outcome(head, "dead")
            return
        item = self.store.outbox_claim(head, self.owner, now, config.delivery.lease)
        if item is None:
            return  # another dispatcher took it
        action = item.action
        parent = None
        if item.parent_key:
            parent_row = self.store.outbox_get(item.parent_key)
            if parent_row is not None and parent_row.status == "sent" and parent_row.result:
                parent = parent_row.result
            elif parent_row is None or parent_row.status in ("failed_over", "dead", "skipped"):
                if item.action == "update":
                    self.store.outbox_finish(item, "skipped", "its message was never delivered here")
                    stats.skipped += 1
                    self._outcome(item, "skipped")
                    return
                action = "post"  # the thread does not exist: say it as a message of its own
            else:
                self.store.outbox_retry(
                    item,
                    now + 1.0,
                    "waiting for the parent message",
                    item.first_failure_at,
                    uncertain=item.attempt_started_at is not None,
                )
                return
        if action == "update" and self.store.outbox_newer_update(item):
            self.store.outbox_finish(item, "skipped", "superseded by a newer update of the same message")
            stats.skipped += 1
            self._outcome(item, "skipped")
            return
        receiver = config.receivers[item.receiver]
        down = self.down_since.get(item.receiver)
        if (
            down is not None
            and receiver.fallback
            and self.health.is_down(item.receiver, now, config.delivery)
            and item.attempt_started_at is None
            and item.action != "update"
            and not self.health.probe_due(item.receiver, now, config.delivery)
            and self._fail_over(item, f"receiver {item.receiver} down since {down:.0f}", config, stats)
        ):
            return
        delivery = Delivery(item, integration, action, parent, config.dashboard.url)
        reconciling = item.attempt_started_at is not None
        try:
            sender = self.senders(integration)
            if item.attempt_started_at is not None:
                with self._lookup_lock(item.target):
                    found = sender.reconcile(delivery, item.attempt_started_at - RECONCILE_MARGIN_S)
                if found is not None:
                    self.store.outbox_complete(item, found, self.clock())
                    self.health.succeeded(item.receiver)
                    stats.reconciled += 1
                    log.info(
                        "outbox row %s had been delivered before a crash; recorded, not re-sent", item.key
                    )
                    self._outcome(item, "reconciled")
                    return
            reconciling = False
            if not self._take_slot(item, config):
                return
            item = self.store.outbox_start_attempt(item, now)
            result = sender.send(delivery)
        except DeliveryError as exc:
            self._failed(item, exc, config, stats, keep_attempt=reconciling)
            return
        except Exception as exc:  # a bug or an unforeseen client error: retried, and loud
            log.exception("delivering %s to %s failed unexpectedly", item.key, item.receiver)
            error = DeliveryError(f"unexpected error: {exc!r}", uncertain=True)
            self._failed(item, error, config, stats, keep_attempt=reconciling)
            return
        self.store.outbox_complete(item, result, self.clock())
        self.health.succeeded(item.receiver)
        stats.sent += 1
        self._outcome(item, "sent")

    def _take_slot(self, item: OutboxItem, config: AlertsConfig) -> bool:
        """Wait for this request's send slot in the lane (shared by every dispatcher).

        False when the slot is too far off to hold the row's lease for, or the dispatcher is
        stopping: the row is put back, due at its slot.
        """
        pace = config.delivery.pace
        now = self.clock()
        slot = self.store.pace_take(item.target, now, pace)
        self.pacer.sent(item.target, slot, pace)
        if slot > now + min(SLOT_WAIT_S, config.delivery.lease / 3):
            self.store.outbox_retry(
                item, slot, "waiting for a send slot in its channel", item.first_failure_at, uncertain=False
            )
            return False
        if slot > now:
            self.sleep(slot - now)
        if self.stop.is_set():
            self.store.outbox_retry(
                item, slot, "the dispatcher stopped", item.first_failure_at, uncertain=False
            )
            return False
        return True

    def _fail_over(self, item: OutboxItem, error: str, config: AlertsConfig, stats: DispatchStats) -> bool:
        rows = fallback_rows(item, config.receivers, self.clock())
        if not rows:
            return False
        self.store.outbox_fail_over(item, error, rows, self.clock())
        stats.failed_over += 1
        log.warning(
            "notification %s for %s failed over to %s: %s", item.key, item.receiver, rows[0].receiver, error
        )
        self._outcome(item, "failed_over")
        return True

    def _failed(
        self,
        item: OutboxItem,
        exc: DeliveryError,
        config: AlertsConfig,
        stats: DispatchStats,
        keep_attempt: bool,
    ) -> None:
        now = self.clock()
        settings = config.delivery
        uncertain = exc.uncertain or keep_attempt
        if exc.rate_limited:
            until = now + (exc.retry_after if exc.retry_after is not None else 1.0)
            self.pacer.block(item.target, until)
            self.store.pace_block(item.target, until)
            self.store.outbox_retry(item, until, str(exc), item.first_failure_at, uncertain=keep_attempt)
            stats.rate_limited += 1
            self._outcome(item, "rate_limited")
            return
        first = item.first_failure_at if item.first_failure_at is not None else now
        if exc.retryable:
            self.health.failed(item.receiver, first)
        if not exc.retryable:
            if item.action != "update" and self._fail_over(item, str(exc), config, stats):
                return
            status: Status = "skipped" if item.action == "update" else "dead"
            self.store.outbox_finish(item, status, str(exc))
            log.error("notification %s to %s not delivered: %s", item.key, item.receiver, exc)
            stats.dead += status == "dead"
            stats.skipped += status == "skipped"
            self._outcome(item, status)
            return
        if (
            (now - first >= settings.fallback_after or self.health.is_down(item.receiver, now, settings))
            and item.action != "update"
            and self._fail_over(item, str(exc), config, stats)
        ):
            return
        if now - first >= settings.give_up_after:
            self.store.outbox_finish(item, "dead", f"gave up after {now - first:.0f}s: {exc}")
            log.error("notification %s to %s given up: %s", item.key, item.receiver, exc)
            stats.dead += 1
            self._outcome(item, "dead")
            return
        delay = retry_delay(settings, item.attempts, now - first, self.rng)
        self.store.outbox_retry(item, now + delay, str(exc), first, uncertain=uncertain)
        stats.retried += 1
        log.info("notification %s to %s will be retried in %.1fs: %s", item.key, item.receiver, delay, exc)
        self._outcome(item, "retried")

    def drain(self, timeout: float, budget: float = 5.0) -> DispatchStats:
        """Run until nothing is left to deliver now or ``timeout`` passes (CLI and tests)."""
        total = DispatchStats()
        deadline = self.clock() + timeout
        while self.clock() < deadline and not self.stop.is_set():
            total.add(self.run_once(min(budget, max(deadline - self.clock(), 0.0))))
            if not any(i.status in ("pending", "sending") for i in self.store.outbox_heads(1)):
                break
        return total

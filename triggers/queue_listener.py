"""One queue-triggered function's listener: claims messages, runs them, settles each claim.

The loop is the queue extension's: receive up to `batchSize` messages, run each at once, fetch
the next batch when no more than `newBatchThreshold` are still running; when the queue is empty,
back off (randomized, exponential, 100 ms up to `maxPollingInterval`) unless an enqueue on this
host (or, on PostgreSQL, another host's NOTIFY) wakes it first. A message delivered more than
`maxDequeueCount` times is poisoned without running.

Every message we hold is a `Claim`. Its claim is renewed at half its length while the function
runs; a renewal changes the pop receipt and a commit must present the current one, so renewal,
completion and release of one claim never overlap: each holds the claim's lock across its store
call (the rule of host/taskhub/activities.py, for the same reason). Success commits the outputs
with the message's deletion; failure makes the message visible again after `visibilityTimeout`,
or moves it to `<queue>-poison` (copy and delete in one transaction) at `maxDequeueCount`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from funcpy.host.faults import fault_point
from funcpy.host.index import FunctionInfo
from funcpy.host.invocation import InvocationError, PendingOutput
from funcpy.host.taskhub.store import Message, PopReceiptMismatch, StoreError
from funcpy.triggers import queue_store
from funcpy.triggers.queue_codec import binding_data, body_of, trigger_value
from funcpy.triggers.queue_options import MIN_POLLING, QueueOptions, store_queue

if TYPE_CHECKING:
    from funcpy.triggers.queue import QueueService

log = logging.getLogger("func_py.queues")
COMMIT_ATTEMPTS = 5
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class QueueSpec:
    """What a listener runs on; a reload keeps a listener whose spec is unchanged."""

    queue: str
    poison: str | None
    options: QueueOptions

    @property
    def store_queue(self) -> str:
        return store_queue(self.queue)


class Backoff:
    """RandomizedExponentialBackoffStrategy: the minimum after a poll that found messages, then
    the minimum plus 2^(n-1) minimums (randomized by ±20%) until the maximum."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, max(minimum, maximum)
        self.current, self.exponent = 0.0, 0

    def next(self, found: bool) -> float:
        if found:
            self.current, self.exponent = self.minimum, 1
        elif self.current != self.maximum:
            step = self.minimum
            if self.exponent > 0:
                step += random.uniform(0.8, 1.2) * 2 ** (self.exponent - 1) * self.minimum
            if step < self.maximum:
                self.current, self.exponent = step, self.exponent + 1
            else:
                self.current = self.maximum
        return self.current


class Claim:
    """A message we hold: `message` carries the current pop receipt, `lock` serialises the
    store calls that present or change it, `settled` once nothing may touch it again
    (completed, released, poisoned, given back, or found taken by another delivery)."""

    __slots__ = ("lock", "message", "settled")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.lock = asyncio.Lock()
        self.settled = False


class QueueListener:
    def __init__(self, service: QueueService, fn: FunctionInfo, spec: QueueSpec) -> None:
        self.service = service
        self.fn = fn
        self.spec = spec
        self.wake = asyncio.Event()
        self.claims: dict[int, Claim] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.running = False
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.running = True
        self._loop = asyncio.ensure_future(self._run())

    async def retire(self) -> None:
        """Claim nothing more; messages in flight finish and settle on their own."""
        self.running = False
        self.wake.set()
        if self._loop is not None:
            await asyncio.gather(self._loop, return_exceptions=True)

    # -- claiming ----------------------------------------------------------------------------

    async def _run(self) -> None:
        svc, opts = self.service, self.spec.options
        backoff = Backoff(MIN_POLLING.total_seconds(), opts.max_polling_interval)
        found = False
        while self.running:
            self.wake.clear()  # before reading: an enqueue after this point ends the wait
            try:
                msgs = await svc.offload(svc.store.get_messages, self.spec.store_queue,
                                         opts.batch_size, svc.claim_seconds)
            except StoreError as exc:
                log.warning("Reading queue '%s' for '%s' failed (will retry): %s",
                            self.spec.queue, self.fn.name, exc)
                await self._sleep(backoff.next(False))
                continue
            except Exception:  # a bug of ours must not end the listener
                log.exception("The listener of '%s' failed; it goes on.", self.fn.name)
                await self._sleep(backoff.next(False))
                continue
            if msgs and not self.running:
                await self._give_back([Claim(m) for m in msgs])
                return
            for m in msgs:
                self._start(m)
            if msgs:
                found = True
                await self._below_threshold()
                continue
            await self._sleep(backoff.next(found))
            found = False

    async def _below_threshold(self) -> None:
        """Wait until no more than newBatchThreshold messages are running (or retirement)."""
        while len(self.tasks) > self.spec.options.new_batch_threshold and self.running:
            woken = asyncio.ensure_future(self.wake.wait())
            await asyncio.wait([*self.tasks, woken], return_when=asyncio.FIRST_COMPLETED)
            woken.cancel()
            # An enqueue meanwhile needs no wake-up of its own: the next poll follows at once.
            self.wake.clear()

    async def _sleep(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self.wake.wait()
        except TimeoutError:
            pass

    def _start(self, message: Message) -> None:
        claim = Claim(message)
        self.claims[message.id] = claim
        task = asyncio.ensure_future(self._process(claim))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- running one message --------------------------------------------------------------------

    async def _process(self, claim: Claim) -> None:
        try:
            if claim.message.dequeue_count > self.spec.options.max_dequeue_count:
                await self._poison(claim)  # BeginProcessingMessageAsync: not run again
                return
            renewing = asyncio.ensure_future(self._keep(claim))
            try:
                pending = await self._invoke(claim)
                fault_point("queue-invoked")
                if pending is None:
                    await self._failed(claim)
                else:
                    await self._complete(claim, pending)
            finally:
                renewing.cancel()
        except Exception:
            log.exception("Settling message %s of queue '%s' failed inside the host; it is "
                          "delivered again when its claim expires.", claim.message.id,
                          self.spec.queue)
        finally:
            self.claims.pop(claim.message.id, None)

    async def _invoke(self, claim: Claim) -> list[PendingOutput] | None:
        """Run the function; its unwritten outputs, or None when it failed."""
        fn, message = self.fn, claim.message
        body = body_of(message)
        data = binding_data(message, body)
        try:
            value = trigger_value(fn, body, data)
        except Exception as exc:  # the converter refused the message: a failed invocation
            log.error("Executed 'Functions.%s' (Failed): the queue message %s cannot be "
                      "bound: %s: %s", fn.name, message.id, type(exc).__name__, exc)
            return None
        try:
            result = await self.service.invoker.invoke(
                fn, value, reason=f"New queue message detected on '{self.spec.queue}'.",
                defer_outputs=True, binding_data=data)
        except InvocationError:
            return None  # logged by the invoker
        return result.pending

    async def _complete(self, claim: Claim, pending: list[PendingOutput]) -> None:
        svc = self.service
        mine = [p for p in pending if p.writer is svc.writer]
        items = [item for p in mine for item in p.items]
        done = await self._settle(claim, lambda m: queue_store.complete(svc.store, m, items),
                                  "completing")
        if not done:
            if items:
                log.warning("The output of '%s' for message %s was not written: the message is "
                            "no longer ours, and its next delivery runs the function again.",
                            self.fn.name, claim.message.id)
            return
        fault_point("queue-committed")
        svc.notify({item.queue for item in items})
        for p in pending:  # other kinds of output have no part in our transaction
            if p not in mine:
                await p.writer.write(p.items)

    async def _failed(self, claim: Claim) -> None:
        opts, message = self.spec.options, claim.message
        if self.spec.poison is None:
            # QueueProcessor: without a poison queue the message stays invisible until its
            # claim runs out, rather than spinning.
            claim.settled = True
            return
        if message.dequeue_count >= opts.max_dequeue_count:
            await self._poison(claim)
            return
        svc = self.service
        released = await self._settle(
            claim, lambda m: svc.store.update_visibility(m, opts.visibility_timeout),
            "releasing")
        if released and opts.visibility_timeout > 0:
            asyncio.get_running_loop().call_later(opts.visibility_timeout, self.wake.set)
        elif released:
            self.wake.set()

    async def _poison(self, claim: Claim) -> None:
        poison = self.spec.poison
        if poison is None:
            claim.settled = True  # nowhere to move it: it stays invisible until its claim ends
            return
        svc = self.service
        log.warning("Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
                    self.spec.options.max_dequeue_count, poison)
        moved = await self._settle(
            claim, lambda m: queue_store.move_to_poison(svc.store, m, poison), "poisoning")
        if moved:
            svc.notify({poison})

    async def _settle(self, claim: Claim, work: Callable[[Message], Any], what: str) -> bool:
        """Run `work(current message)` under the claim's lock and settle the claim; retried on
        store failures. False when the message is no longer ours or the store kept failing
        (the claim then runs out and the message is delivered again)."""
        svc = self.service
        for attempt in range(COMMIT_ATTEMPTS):
            async with claim.lock:
                if claim.settled:
                    return False
                try:
                    await svc.offload(work, claim.message)
                    claim.settled = True
                    return True
                except PopReceiptMismatch:
                    log.info("Message %s of queue '%s' is no longer ours (its claim ran out and "
                             "it was delivered again, or it was deleted): not %s it.",
                             claim.message.id, self.spec.queue, what)
                    claim.settled = True
                    return False
                except StoreError as exc:
                    log.warning("%s message %s of queue '%s' failed (attempt %d): %s",
                                what.capitalize(), claim.message.id, self.spec.queue,
                                attempt + 1, exc)
            await asyncio.sleep(RETRY_SECONDS[attempt])
        log.error("Gave up %s message %s of queue '%s'; it is delivered again when its claim "
                  "expires.", what, claim.message.id, self.spec.queue)
        claim.settled = True
        return False

    async def _keep(self, claim: Claim) -> None:
        """Renew the claim at half its length while the function runs (sooner after a
        failed renewal, as the extension speeds up)."""
        svc = self.service
        every = svc.claim_seconds / 2
        delay = every
        while True:
            await asyncio.sleep(delay)
            async with claim.lock:
                if claim.settled:
                    return
                try:
                    claim.message = await svc.offload(svc.store.update_visibility,
                                                      claim.message, svc.claim_seconds)
                    delay = every
                except PopReceiptMismatch:
                    log.warning("Lost the claim on message %s of queue '%s' while '%s' ran: it "
                                "was delivered again; its outputs from this run will not be "
                                "written.", claim.message.id, self.spec.queue, self.fn.name)
                    claim.settled = True
                    return
                except StoreError as exc:
                    log.warning("Renewing the claim on message %s of queue '%s' failed (will "
                                "retry): %s", claim.message.id, self.spec.queue, exc)
                    delay = max(0.5, delay / 2)

    # -- stopping ------------------------------------------------------------------------------

    async def give_back(self) -> int:
        """Release every unsettled claim, uncounted (the host chose to stop); returns how
        many were given back."""
        return await self._give_back(list(self.claims.values()))

    async def _give_back(self, claims: list[Claim]) -> int:
        svc, given = self.service, 0
        for claim in claims:
            async with claim.lock:
                if claim.settled:
                    continue
                claim.settled = True
                try:
                    given += await svc.offload(svc.store.unclaim, [claim.message])
                except StoreError:
                    pass  # its claim runs out instead
        return given

"""The isolation gate on its own: a suspect runs with nothing else in flight, and nothing is
claimed while it waits or runs (the end-to-end proof is in tests/e2e/test_crash.py)."""

from __future__ import annotations

import asyncio

from funcpy.host.taskhub.isolation import Isolation, is_suspect
from funcpy.host.taskhub.store import Message


def _msg(count: int) -> Message:
    return Message("q", 1, "p", None, count, "r", 0.0, 0.0)


def test_a_message_delivered_before_is_a_suspect() -> None:
    assert not is_suspect(_msg(1)) and is_suspect(_msg(2))


def test_a_suspect_waits_for_work_in_flight_and_keeps_new_claims_out() -> None:
    async def main() -> None:
        iso = Isolation()
        claimed = await iso.claim(lambda: asyncio.sleep(0, [_msg(1), _msg(1)]))
        assert iso.active == 2
        order: list[str] = []

        async def suspect() -> None:
            async with iso.alone():
                order.append("alone")
                await asyncio.sleep(0)
                order.append("alone done")

        async def later_claim() -> None:
            await iso.claim(lambda: asyncio.sleep(0, [_msg(1)]))
            order.append("claimed")

        s = asyncio.ensure_future(suspect())
        c = asyncio.ensure_future(later_claim())
        for _ in range(5):
            await asyncio.sleep(0)
        assert order == [] and iso.isolating  # both wait: work is in flight
        iso.settled(len(claimed))
        await asyncio.gather(s, c)
        assert order == ["alone", "alone done", "claimed"]
        assert not iso.isolating and iso.active == 1

    asyncio.run(main())


def test_a_claim_under_way_counts_as_work_in_flight() -> None:
    async def main() -> None:
        iso = Isolation()
        release = asyncio.Event()

        async def slow_get() -> list[Message]:
            await release.wait()
            return [_msg(1)]

        claiming = asyncio.ensure_future(iso.claim(slow_get))
        await asyncio.sleep(0)
        entered = asyncio.Event()

        async def suspect() -> None:
            async with iso.alone():
                entered.set()

        s = asyncio.ensure_future(suspect())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not entered.is_set()  # the dequeue may still return messages
        release.set()
        [_claimed] = await claiming
        assert not entered.is_set()  # and what it returned is in flight until settled
        iso.settled()
        await s
        assert entered.is_set()

    asyncio.run(main())


def test_hung_work_does_not_stall_the_suspect_forever() -> None:
    async def main() -> None:
        iso = Isolation()
        await iso.claim(lambda: asyncio.sleep(0, [_msg(1)]))  # never settles
        async with iso.alone(wait=0.05):
            ran = True
        assert ran and iso.active == 1

    asyncio.run(main())


def test_close_lets_waiting_claims_return_nothing() -> None:
    async def main() -> None:
        iso = Isolation()
        await iso.claim(lambda: asyncio.sleep(0, [_msg(1)]))
        s = asyncio.ensure_future(iso.alone().__aenter__())
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(iso.claim(lambda: asyncio.sleep(0, [_msg(1)])))
        await asyncio.sleep(0)
        assert not waiting.done()
        iso.close()
        assert await waiting == []
        s.cancel()
        await asyncio.gather(s, return_exceptions=True)

    asyncio.run(main())

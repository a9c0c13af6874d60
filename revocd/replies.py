"""Numbered asks of another process, each waiting for its reply (the replica <-> primary
pipe carries the number both ways: revocd/replicas.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Replies(Generic[T]):
    def __init__(self) -> None:
        self._numbers = itertools.count()
        self._waiting: dict[int, asyncio.Future[T]] = {}

    async def ask(self, send: Callable[[int], None], timeout: float) -> T:
        """Send ask number n with `send(n)`, wait for its reply; TimeoutError after
        `timeout` seconds (a reply arriving later is dropped)."""
        number = next(self._numbers)
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting[number] = waiter
        try:
            send(number)
            return await asyncio.wait_for(waiter, timeout)
        finally:
            del self._waiting[number]

    def resolve(self, number: int, reply: T) -> None:
        """The reply to ask `number`; ignored when nobody waits for it any more."""
        waiter = self._waiting.get(number)
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

"""Several backends at once: which one answers a persona, and which ones stand in when it is down.

A persona names its backend (`backend:`) or gets the default one (LLM_BACKEND). LLM_FALLBACK lists,
in order, the backends that answer instead when the chosen one fails before its first chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from nono.core.errors import ConfigError, NonoError
from nono.core.llm.base import LLM, ModelInfo


@dataclass(frozen=True)
class Listing:
    """One backend's models for `/models`: what its server has, or why it could not say."""

    backend: str
    #: The model the backend answers with when a persona names none.
    model: str
    models: tuple[ModelInfo, ...] = ()
    #: The user-facing reason the listing failed, else None.
    error: str | None = None


class Backends:
    """The configured backends by name, the default one, and the fallback order."""

    def __init__(self, backends: Iterable[LLM], default: str | None = None, fallback: Sequence[str] = ()) -> None:
        self._by_name: dict[str, LLM] = {}
        for llm in backends:
            if llm.name in self._by_name:
                raise ConfigError(f"backend {llm.name!r} is configured twice")
            self._by_name[llm.name] = llm
        if not self._by_name:
            raise ConfigError("no model backend is configured (LLM_BACKENDS)")
        self.default = default or next(iter(self._by_name))
        unknown = [name for name in (self.default, *fallback) if name not in self._by_name]
        if unknown:
            raise ConfigError(
                f"backend {unknown[0]!r} is not one of LLM_BACKENDS ({', '.join(self._by_name)}); add it there"
            )
        self.fallback = tuple(dict.fromkeys(fallback))

    @classmethod
    def single(cls, llm: LLM) -> Backends:
        return cls([llm])

    @property
    def default_llm(self) -> LLM:
        return self._by_name[self.default]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def __iter__(self) -> Iterator[LLM]:
        return iter(self._by_name.values())

    def get(self, name: str | None) -> LLM:
        """The backend called `name` (None: the default one)."""
        if name is None:
            return self.default_llm
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigError(f"backend {name!r} is not one of LLM_BACKENDS ({', '.join(self._by_name)})") from None

    def chain(self, name: str | None) -> list[LLM]:
        """The backend that answers a persona of backend `name`, then those that stand in, each once."""
        first = self.get(name)
        return [first, *(self._by_name[other] for other in self.fallback if other != first.name)]

    @property
    def queue_depth(self) -> int:
        """Replies generating or waiting, over every backend."""
        return sum(llm.queue_depth for llm in self)

    async def listings(self) -> list[Listing]:
        """Every backend's models, asked at once; a backend that cannot say is listed with its reason."""
        results = await asyncio.gather(*(llm.list_models() for llm in self), return_exceptions=True)
        listings = []
        for llm, result in zip(self, results, strict=True):
            if isinstance(result, NonoError):
                listings.append(Listing(llm.name, llm.model, error=str(result)))
            elif isinstance(result, BaseException):
                raise result
            else:
                listings.append(Listing(llm.name, llm.model, tuple(result)))
        return listings

    async def aclose(self) -> None:
        for llm in self:
            await llm.aclose()


def persona_chains_up(chains: Mapping[str, Sequence[str]], up: Mapping[str, bool]) -> list[str]:
    """The personas none of whose backends is up (empty when every persona can be answered)."""
    return [persona for persona, names in chains.items() if not any(up.get(name, False) for name in names)]

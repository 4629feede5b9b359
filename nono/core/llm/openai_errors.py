"""What the `openai` backend tells a user, and logs for the operator, for each way a server can fail.

Every client exception is translated here, once. Log lines carry what the operator needs (server,
model, status, the server's own words) and never a credential: the server's words pass through
`Redactor`, which blanks the API key and every OPENAI_HEADERS value wherever they appear.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import openai

from nono.core.errors import Busy, ModelUnavailable, ServiceUnavailable
from nono.core.wording import MODEL_SERVER_BUSY, MODEL_SERVER_UNREACHABLE, MODEL_STREAM_BROKEN, TOO_SLOW

log = logging.getLogger(__name__)

UNREACHABLE = MODEL_SERVER_UNREACHABLE
SERVER_ERROR = "The model server ran into an error. Please try again in a minute."
BROKEN = MODEL_STREAM_BROKEN
SERVER_BUSY = MODEL_SERVER_BUSY
KEY_REFUSED = "The model server refused our credentials; the operator needs to check OPENAI_API_KEY."
WRONG_URL = "The model server's address looks wrong; the operator needs to check OPENAI_BASE_URL."
REQUEST_REFUSED = "The model server refused the request. Please try again; if it keeps happening, tell the operator."
NO_CONTENT = "The model finished without writing anything. Please try again or rephrase your message."

#: A 429's Retry-After is honoured up to this many seconds, at most MAX_RETRIES times per reply.
MAX_RETRY_WAIT = 10.0
MAX_RETRIES = 2
#: Model names a user-facing "unknown model" message lists (the log lists more).
SHOWN_MODELS = 10
LOGGED_MODELS = 100
# 400s that mean "no such model" (OpenRouter: "x is not a valid model ID"); other 400s are about the request.
_NO_SUCH_MODEL = ("not a valid model", "not found", "does not exist", "unknown model", "no such model", "invalid model")


def unknown_model_message(model: str, available: Sequence[str] | None) -> str:
    """What a user is told when the server has no model called `model`."""
    text = f"The model {model!r} is not available on the model server."
    if not available:
        return text + " The operator needs to check OPENAI_MODEL or the persona's model:."
    shown = ", ".join(available[:SHOWN_MODELS]) + (", …" if len(available) > SHOWN_MODELS else "")
    return text + f" It has: {shown}. The operator needs to set OPENAI_MODEL or the persona's model: to one of them."


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a 429 asks us to wait (`retry-after-ms`, `Retry-After` in seconds or as an HTTP date), if it says."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def is_unknown_model(exc: openai.APIStatusError, model: str) -> bool:
    """Does this refusal say the server has no such model (rather than a wrong URL or a bad request)?"""
    said = server_words(exc).lower()
    if exc.code == "model_not_found":
        return True
    if exc.status_code == 404:
        return "model" in said
    return exc.status_code == 400 and model.lower() in said and any(words in said for words in _NO_SUCH_MODEL)


def server_words(exc: openai.APIError) -> str:
    """The server's own error message (OpenAI's `error.message`, FastAPI's `detail`, or the raw body)."""
    body = exc.body
    if isinstance(body, Mapping):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    if isinstance(body, str) and body:
        return body[:500]
    return exc.message


def safe_url(url: str) -> str:
    """`url` without user:password@ (a credential some gateways take in the URL)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class Redactor:
    """Blanks the credentials (API key, header values) out of text that is about to be logged."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is blanked whole; very short values
        # ("1", "true") would blank ordinary words and are not credentials.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


class Translator:
    """Turns the client's exceptions into the user-facing errors of one backend, logging each once."""

    def __init__(self, base_url: str, redact: Redactor, timeout: float) -> None:
        self.base_url = safe_url(base_url)
        self.redact = redact
        self.timeout = timeout

    def where(self, model: str) -> dict[str, object]:
        return {"backend": "openai", "base_url": self.base_url, "model": model}

    def translate(self, exc: BaseException, model: str, *, started: bool) -> ServiceUnavailable:
        """The error to raise for `exc`; `started`: the reply's stream had begun (a failure now breaks it)."""
        where = self.where(model)
        if isinstance(exc, TimeoutError):
            log.warning("llm_timeout", extra={**where, "timeout": self.timeout})
            return ModelUnavailable(TOO_SLOW)
        if isinstance(exc, openai.APIStatusError):
            return self._refused(exc, model)
        if isinstance(exc, openai.APIConnectionError) and not started:
            # Refused, reset, DNS, TLS, or a connect timeout (the read timeout is longer than ours).
            log.warning("llm_unreachable", extra={**where, "error": self._cause(exc)})
            return ModelUnavailable(UNREACHABLE, fallback=True)
        # A dropped connection mid-body, an {"error": ...} event inside the stream, data that is not JSON.
        error = self._cause(exc) if not isinstance(exc, openai.APIError) else self.redact(server_words(exc))
        log.warning("llm_stream_broken", extra={**where, "error": error, "started": started})
        return ModelUnavailable(BROKEN)

    def rate_limited(self, exc: openai.RateLimitError, model: str, retries: int) -> float:
        """Seconds to wait before trying again; raise Busy when Retry-After is missing, too long, or retried enough."""
        wait = retry_after(exc.response.headers)
        where = {**self.where(model), "status": 429, "retry_after": wait, "retries": retries}
        where["error"] = self.redact(server_words(exc))
        if wait is None or wait > MAX_RETRY_WAIT or retries >= MAX_RETRIES:
            # OpenAI's 429 "insufficient_quota" is a billing problem: the code in the log says so.
            log.warning("llm_rate_limited", extra={**where, "code": exc.code, "gave_up": True})
            raise Busy(SERVER_BUSY) from exc
        log.info("llm_rate_limited", extra={**where, "code": exc.code, "gave_up": False})
        return wait

    def unknown_model(self, exc: openai.APIStatusError, model: str, available: list[str] | None) -> ModelUnavailable:
        where = {**self.where(model), "status": exc.status_code, "error": self.redact(server_words(exc))}
        listed = available[:LOGGED_MODELS] if available is not None else "unknown (the listing failed)"
        log.error("llm_model_missing", extra={**where, "available": listed, "fix": "set OPENAI_MODEL or model:"})
        return ModelUnavailable(unknown_model_message(model, available))

    def _refused(self, exc: openai.APIStatusError, model: str) -> ModelUnavailable:
        status = exc.status_code
        where = {**self.where(model), "status": status, "error": self.redact(server_words(exc)), "code": exc.code}
        if status in (401, 403):
            log.error("llm_key_refused", extra={**where, "fix": "check OPENAI_API_KEY (and OPENAI_HEADERS)"})
            return ModelUnavailable(KEY_REFUSED)
        if status >= 500:
            log.warning("llm_server_error", extra=where)
            return ModelUnavailable(SERVER_ERROR, fallback=True)
        if status in (404, 405):  # not an OpenAI-compatible API there (a missing /v1 is the usual cause)
            log.error("llm_request_failed", extra={**where, "fix": "OPENAI_BASE_URL usually ends in /v1"})
            return ModelUnavailable(WRONG_URL)
        # 400, 413, 422: we sent something this server refuses (a too-long prompt, a parameter it lacks).
        log.error("llm_request_failed", extra=where)
        return ModelUnavailable(REQUEST_REFUSED)

    def _cause(self, exc: BaseException) -> str:
        cause = exc.__cause__ or exc.__context__
        return self.redact(f"{exc!r} ({cause!r})" if cause is not None else repr(exc))

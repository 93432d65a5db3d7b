"""What every provider shares: the provider-neutral conversation shapes, usage, errors and
retries, key reading and redaction (the adapters: anthropic_provider.py, openai_provider.py).

A provider turns (system prompt, provider-neutral history, tool schemas) into one model turn:
text + tool calls + token usage. The conversation itself belongs to the agent
(agent_core/agents/llm.py); providers only translate it to and from their wire format.

Retries: each provider sets the SDK's own retries to 0 and retries here, with exponential
backoff (honouring retry-after), on 429, 408/409, 5xx/529, timeouts and connection errors.
`backoff=0` makes that instant in tests. After the last attempt a ProviderError is raised;
its message is scrubbed of the API key (by agent_core.record.secrets, the one redactor) and never
chains the SDK exception (whose request object carries the key in its headers).

API keys come from ANTHROPIC_API_KEY / OPENAI_API_KEY, read once when the provider is built.
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from agent_core.record import secrets as _secrets

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4.1"}
KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
OPENAI_BASE_URL_ENV = "TINKER_TUI_OPENAI_BASE_URL"

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
FATAL_STATUS = frozenset({401, 402, 403, 404})  # bad key, no credit, no access, no such model
RETRY_ERROR_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error", "server_error"})


# -- the normalized shapes ----------------------------------------------------------------
@dataclass
class ToolCall:
    """One tool call from the model. `args` is a dict, or the raw argument text when it was
    not a JSON object; `error` then says why the call cannot run."""

    id: str
    name: str
    args: dict[str, Any] | str
    error: str | None = None

    @property
    def runnable(self) -> bool:
        return self.error is None and isinstance(self.args, dict)


@dataclass
class ToolResult:
    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass
class UserText:
    text: str


@dataclass
class AssistantTurn:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class ToolResults:
    results: list[ToolResult]


Message = UserText | AssistantTurn | ToolResults


@dataclass
class Usage:
    """Token counts. input_tokens excludes cached input (Anthropic's meaning; for OpenAI it is
    prompt_tokens minus cached_tokens), so total_input = input + cache_read + cache_write."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    requests: int = 0

    def add(self, other: "Usage") -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.requests += other.requests

    @property
    def total_input(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total(self) -> int:
        return self.total_input + self.output_tokens

    def as_dict(self) -> dict:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "requests": self.requests,
            "total": self.total,
        }


@dataclass
class Turn:
    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    stop_reason: str | None = None
    truncated: bool = False  # the model hit its output token limit
    attempts: int = 1


# -- errors and secrets ---------------------------------------------------------------------
class ProviderError(RuntimeError):
    """A model API call that failed for good. The message is safe to show and log."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        fatal: bool = False,
        retry_after: float | None = None,
        attempts: int = 1,
    ):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.fatal = fatal
        self.retry_after = retry_after
        self.attempts = attempts


class MissingKeyError(ValueError):
    """No API key: raised when the provider is built, so a run fails at start with a clear line."""


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove API keys from text: the exact ones we know (`secrets`, e.g. the provider's own key,
    also when encoded) and anything shaped like one. The one redactor is agent_core.record.secrets."""
    return _secrets.redact(str(text), extra=tuple(secrets or ()))


def read_key(kind: str, api_key: str | None = None, *, required: bool = True) -> str | None:
    key = api_key if api_key is not None else os.environ.get(KEY_ENV[kind], "")
    key = (key or "").strip()
    if not key and required:
        raise MissingKeyError(
            f"the {kind} agent needs an API key: set {KEY_ENV[kind]} in the environment that starts tinker-tui"
        )
    return key or None


def tool_specs(schemas: dict[str, dict]) -> list[dict]:
    """Our SCHEMAS (name -> {description, properties, required}) as neutral JSON-schema specs."""
    specs = []
    for name, s in schemas.items():
        params: dict[str, Any] = {"type": "object", "properties": dict(s.get("properties", {}))}
        if s.get("required"):
            params["required"] = list(s["required"])
        specs.append({"name": name, "description": s.get("description", ""), "parameters": params})
    return specs


# -- the base class: retries ---------------------------------------------------------------
class Provider:
    name = "provider"

    def __init__(
        self,
        model: str,
        *,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ):
        self.model = model
        self.max_retries = max(0, int(max_retries))
        self.backoff = max(0.0, float(backoff))
        self.max_backoff = max(0.0, float(max_backoff))
        self._cancelled = threading.Event()
        self._sleep = sleep or self._cancelled.wait  # a backoff ends early on cancel()
        self._secrets: list[str] = []

    def cancel(self) -> None:
        """Make the call in flight (if it can notice: between stream events, during a backoff)
        and every later call fail fast with a fatal ProviderError. Safe from any thread."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise ProviderError(f"{self.name} API call cancelled: the run is stopping", fatal=True)

    def __repr__(self) -> str:  # never shows the key
        return f"<{type(self).__name__} model={self.model!r}>"

    def complete(self, system: str, messages: list[Message], tools: list[dict]) -> Turn:
        raise NotImplementedError

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        delay *= 1.0 + 0.25 * random.random()
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        return min(delay, self.max_backoff) if self.max_backoff else 0.0

    def _retrying(self, attempt_fn: Callable[[], Turn]) -> Turn:
        attempt = 0
        while True:
            self.check_cancelled()
            err: ProviderError | None = None
            try:
                turn = attempt_fn()
            except ProviderError as exc:  # ours (a cancel noticed mid-stream): already safe
                err = exc
            except Exception as exc:  # classified below; the original is dropped (it holds the key)
                err = self._classify(exc)
            if err is None:
                turn.attempts = attempt + 1
                return turn
            if not err.retryable or attempt >= self.max_retries:
                err.attempts = attempt + 1
                if err.retryable:
                    err.args = (f"{err.args[0]} (gave up after {attempt + 1} attempts)",)
                raise err
            self._sleep(self._delay(attempt, err.retry_after))
            attempt += 1
            self.check_cancelled()

    def _classify(self, exc: Exception) -> ProviderError:
        """Map any exception from one attempt to a ProviderError. Subclasses know their SDK."""
        return classify_common(exc, self.name, self.redact)


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000.0
        sec = headers.get("retry-after")
        if sec is not None:
            return float(sec)
    except (TypeError, ValueError):
        return None
    return None


def _error_type(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            t = err.get("type") or err.get("code")
            return t if isinstance(t, str) else None
    return None


def _error_message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
    return fallback


def classify_common(exc: Exception, who: str, scrub: Callable[[str], str]) -> ProviderError:
    """Works for both SDKs: they share class names and attributes (status_code, body, response)."""
    cls = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and hasattr(exc, "body"):  # APIStatusError (also mid-stream error events)
        body = getattr(exc, "body", None)
        etype = _error_type(body)
        msg = _error_message(body, str(exc))
        retryable = status in RETRY_STATUS or status >= 500 or (etype in RETRY_ERROR_TYPES)
        fatal = status in FATAL_STATUS
        resp = getattr(exc, "response", None)
        what = {
            401: "authentication failed (check the API key)",
            403: "permission denied",
            404: "not found (check the model name and base URL)",
            429: "rate limited",
            402: "payment required",
        }.get(status, f"HTTP {status}")
        if status == 200 and etype:
            what = f"error during the stream ({etype})"
        elif etype and status not in (401, 403, 404, 429, 402):
            what = f"HTTP {status} {etype}"
        return ProviderError(
            scrub(f"{who} API {what}: {msg}")[:400],
            status=status,
            retryable=retryable,
            fatal=fatal,
            retry_after=_retry_after(getattr(resp, "headers", None)),
        )
    if "Timeout" in cls:
        return ProviderError(f"{who} API timed out", retryable=True)
    if cls == "APIConnectionError" or _is_transport_error(exc):
        return ProviderError(scrub(f"{who} API connection error ({cls})")[:400], retryable=True)
    if isinstance(exc, ValueError) and "JSON" in str(exc):  # e.g. unparsable streamed tool input
        return ProviderError(scrub(f"{who} API sent a reply that could not be parsed: {exc}")[:400], retryable=True)
    return ProviderError(scrub(f"{who} API call failed: {cls}: {exc}")[:400], retryable=False)


def _is_transport_error(exc: Exception) -> bool:
    for c in type(exc).__mro__:
        mod = getattr(c, "__module__", "") or ""
        if mod.partition(".")[0] in ("httpx", "httpx2", "httpcore") and c.__name__ in (
            "TransportError",
            "NetworkError",
            "TimeoutException",
            "RemoteProtocolError",
            "ProtocolError",
        ):
            return True
    return False

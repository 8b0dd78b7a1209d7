"""Settings of the AI agent's model server (any OpenAI-compatible endpoint); the API key is a keyring secret."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from gpuwatch_desktop.core.errors import ConfigError

LLM_API_KEY_SECRET = "llm-api-key"

# Local servers offered by auto-detect (never assumed): name, base URL.
LOCAL_SERVERS: tuple[tuple[str, str], ...] = (
    ("vLLM", "http://127.0.0.1:8000/v1"),
    ("Ollama", "http://127.0.0.1:11434/v1"),
    ("LM Studio", "http://127.0.0.1:1234/v1"),
)


@dataclass(frozen=True, slots=True)
class LlmConfig:
    base_url: str = ""  # e.g. http://head-pod:8000/v1 ; empty = not configured
    model: str = ""
    timeout_s: float = 60.0
    max_steps: int = 10
    temperature: float = 0.2

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    def validate(self) -> None:
        if self.base_url:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"model server {self.base_url!r} is not an http(s) URL")
        if not 1 <= self.max_steps <= 50:
            raise ConfigError("agent steps must be between 1 and 50")
        if not 1 <= self.timeout_s <= 600:
            raise ConfigError("model timeout must be between 1 s and 10 min")
        if not 0 <= self.temperature <= 2:
            raise ConfigError("temperature must be between 0 and 2")

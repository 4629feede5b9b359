"""Three scripted backends (local, ollama, openai) and a persona on each non-default one: `/models` everywhere.

The model names are real-world shapes: Ollama's `:latest` tags and `hf.co/…` paths with slashes and
underscores, OpenRouter's `vendor/model`. `failing=("openai",)` makes that backend's server refuse to list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nono.core.errors import ModelUnavailable
from nono.core.llm.backends import Backends
from nono.core.llm.base import ModelInfo
from nono.core.llm.fake import FakeLLM
from nono.core.personas import Persona, PersonaRegistry, load_personas

LOCAL = ModelInfo("SmolLM2-135M-Instruct-Q8_0.gguf", 144_811_680, 8192)
LLAMA = ModelInfo("llama3.2:latest", 2_019_393_189)
QWEN = ModelInfo("hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M", 4_683_073_536)
GPT = ModelInfo("openai/gpt-4o-mini", context=128_000)
CLAUDE = ModelInfo("anthropic/claude-3.5-haiku", context=200_000)
#: The reason the failing backend gives (a user-facing ModelUnavailable).
REFUSED = "The OpenAI-compatible server refused the API key. Ask the operator to check OPENAI_API_KEY."

#: Answers with a model of the ollama backend, named with a slash and underscores.
SCOUT = Persona(name="scout", display_name="Scout", system_prompt="You are Scout.", backend="ollama", model=QWEN.name)
#: Answers with the openai backend's own model.
CLOUD = Persona(name="cloud", display_name="Cloud", system_prompt="You are Cloud.", backend="openai")


def model_backends(failing: Sequence[str] = (), **listed: Sequence[ModelInfo]) -> Backends:
    """local (the default), ollama and openai; `listed` replaces a backend's models, `failing` makes it refuse."""
    models = {"local": (LOCAL,), "ollama": (LLAMA, QWEN), "openai": (GPT, CLAUDE), **listed}
    fakes = []
    for name, infos in models.items():
        fake = FakeLLM(name=name, models=infos)
        if name in failing:
            fake.health_error = ModelUnavailable(REFUSED)
        fakes.append(fake)
    return Backends(fakes, default="local")


def model_registry(personas_dir: Path, *extra: Persona) -> PersonaRegistry:
    """The project's personas plus Scout, Cloud and `extra`."""
    personas = load_personas(personas_dir)
    for persona in (SCOUT, CLOUD, *extra):
        personas[persona.name] = persona
    return PersonaRegistry(personas, "assistant")

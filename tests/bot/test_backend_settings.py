"""LLM_BACKENDS, LLM_FALLBACK, per-backend models and personas' `backend:` as an operator configures them."""

from __future__ import annotations

import logging
import shutil

import pytest
from pydantic import ValidationError

from nono.bot.logging_setup import Redactor, secret_values
from nono.bot.services import open_services
from nono.core.errors import PersonaConfigError
from nono.core.llm.backends import Backends
from nono.core.llm.base import ModelInfo
from nono.core.llm.fake import FakeLLM
from tests.support.settings import ROOT, make_settings


def test_one_backend_alone_is_what_it_always_was():
    settings = make_settings(llm_backend="ollama", model_name="llama3.2:3b")
    assert (settings.backend_names, settings.model_for("ollama"), settings.llm_fallback) == (
        ["ollama"],
        "llama3.2:3b",
        [],
    )


def test_several_backends_each_with_its_own_model_and_model_name_for_the_default():
    settings = make_settings(
        llm_backend="ollama", llm_backends="local, ollama,openai", llm_fallback="openai,local",
        model_name="hf.co/org/model-GGUF:Q4_K_M", openai_model="openai/gpt-4o-mini",
    )  # fmt: skip
    assert settings.backend_names == ["local", "ollama", "openai"]
    assert settings.llm_fallback == ["openai", "local"]
    # Model names are passed whole: never split on "/".
    assert settings.model_for("ollama") == "hf.co/org/model-GGUF:Q4_K_M"
    assert settings.model_for("openai") == "openai/gpt-4o-mini"
    assert settings.model_for("local") == "bundled SmolLM2"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"llm_backend": "ollama", "llm_backends": "local,openai", "openai_model": "m"},
         "LLM_BACKEND=ollama must be one of LLM_BACKENDS"),
        ({"llm_backends": "local,local"}, "local listed more than once"),
        ({"llm_fallback": "ollama"}, "LLM_FALLBACK: ollama not in LLM_BACKENDS"),
        ({"llm_backends": "local,openai"}, "OPENAI_MODEL is required"),
        ({"llm_backends": "local,vllm"}, "llm_backends"),
    ],
)  # fmt: skip
def test_inconsistent_backend_settings_are_refused_naming_the_setting(values, message):
    with pytest.raises(ValidationError, match=message):
        make_settings(**values)


def test_bad_openai_headers_are_refused_without_echoing_them():
    with pytest.raises(ValidationError) as caught:
        make_settings(llm_backend="openai", openai_headers='{"Authorization": "Bearer sk-hidden-1234"')
    assert "OPENAI_HEADERS must be a JSON object" in str(caught.value)
    assert "sk-hidden-1234" not in str(caught.value)


def test_the_key_and_every_header_value_are_redacted_from_logs():
    settings = make_settings(
        llm_backend="openai", openai_api_key="sk-live-abcdef",
        openai_headers='{"HTTP-Referer": "https://bot.example.org", "X-Api-Token": "tok-98765"}',
    )  # fmt: skip
    redact = Redactor(secret_values(settings))
    line = "sent sk-live-abcdef with X-Api-Token: tok-98765 from https://bot.example.org"
    assert redact(line) == "sent [redacted] with X-Api-Token: [redacted] from [redacted]"


async def test_start_up_refuses_a_persona_whose_backend_is_not_configured(tmp_path):
    personas = tmp_path / "personas"
    shutil.copytree(ROOT / "personas", personas)
    (personas / "remote.yaml").write_text("name: remote\ndisplay_name: R\nsystem_prompt: Hi.\nbackend: openai\n")
    settings = make_settings(tmp_path, personas_dir=personas)
    with pytest.raises(PersonaConfigError, match="persona 'remote': backend 'openai' is not one of LLM_BACKENDS"):
        async with open_services(settings, llm=FakeLLM(name="local")):
            pass


async def test_start_up_warns_but_goes_on_when_a_personas_model_is_not_listed(tmp_path, caplog):
    personas = tmp_path / "personas"
    shutil.copytree(ROOT / "personas", personas)
    (personas / "big.yaml").write_text(
        "name: big\ndisplay_name: B\nsystem_prompt: Hi.\nbackend: ollama\nmodel: qwen3:32b\n"
    )
    settings = make_settings(tmp_path, personas_dir=personas)
    ollama = FakeLLM(name="ollama", models=[ModelInfo("smollm2:135m"), ModelInfo("llama3.2:3b")])
    with caplog.at_level(logging.WARNING):
        async with open_services(settings, llm=Backends([FakeLLM(name="local"), ollama])) as services:
            assert services.backends.names == ("local", "ollama")
    warned = [r for r in caplog.records if r.getMessage() == "persona_model_not_listed"]
    assert [(r.backend, r.model) for r in warned] == [("ollama", "qwen3:32b")]


@pytest.mark.slow
async def test_llm_gpu_layers_reaches_llama_cpp(tmp_path):
    # A CPU-only build ignores the offload; the setting must still arrive (deploy/Dockerfile.cuda sets -1).
    from nono.bot.backends import build_backends

    backends = build_backends(make_settings(tmp_path, llm_gpu_layers=3))
    try:
        assert backends.default_llm.llama.model_params.n_gpu_layers == 3
    finally:
        await backends.aclose()

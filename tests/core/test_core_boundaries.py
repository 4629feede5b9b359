"""The core stays platform-neutral: importing it loads no chat SDK and no web framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nono.core.reply
from tests.support.imports import imported_names


def test_core_imports_no_platform_sdk_or_aiohttp():
    code = (
        "import sys, nono.core, nono.core.commands, nono.core.llm.fake, nono.core.store, nono.core.llm;"
        "import nono.core.store.sqlite_store, nono.core.store.redis_store;"
        "import nono.core.llm.ollama_llm, nono.core.llm.local_llm;"
        "print(sorted(m for m in ('discord', 'telegram', 'aiohttp') if m in sys.modules))"
    )
    # A fresh interpreter: the test process itself has the SDKs loaded by other tests' plugins.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_turn_does_not_import_the_chat_service():
    # Reply reaches ChatService's parts only through TurnHost; not even a TYPE_CHECKING import ties them.
    imported = imported_names(Path(nono.core.reply.__file__))
    assert "nono.core.turn_host" in imported, "the test no longer sees reply.py's imports"
    assert "nono.core.chat" not in imported


def test_the_openai_backend_imports_no_platform_sdk_or_web_framework_itself():
    # The `openai` client may load aiohttp for its own transport; the backend's code never uses it.
    import nono.core.llm.openai_errors
    import nono.core.llm.openai_llm
    import nono.core.llm.openai_tokens

    for module in (nono.core.llm.openai_llm, nono.core.llm.openai_errors, nono.core.llm.openai_tokens):
        imported = imported_names(Path(module.__file__))
        assert not {name for name in imported if name.split(".")[0] in ("discord", "telegram", "aiohttp")}
    code = "import sys, nono.core.llm.openai_llm; print(sorted(m for m in ('discord', 'telegram') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

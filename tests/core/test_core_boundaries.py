"""The core stays platform-neutral: importing it loads no chat SDK and no web framework."""

from __future__ import annotations

import subprocess
import sys


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

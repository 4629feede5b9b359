"""Nono's benchmarks: `make bench` (or `python -m bench`). Not tests: nothing here asserts a time."""

#: id → "module:what it measures"; run in this order.
BENCHMARKS = {
    "P1": "bench.p1_stream_rate:one reply streamed through ChatService vs the raw llama.cpp loop",
    "P2": "bench.p2_core_overhead:core overhead per turn, zero-latency LLM, Redis store",
    "P3": "bench.p3_long_history:a turn with 10,000 stored messages vs 10",
    "P4": "bench.p4_telegram_crowd:1,000 Telegram users at once",
    "P4W": "bench.p4_two_workers:1,000 Telegram users at once, 2 webhook worker processes sharing one port",
    "P5": "bench.p5_shared_model:10 users at once on the local model",
    "P6": "bench.p6_ttft_history:time to first token, 10,000-message vs 200-message history",
    "P7": "bench.p7_sidecar_rps:sidecar REST under load vs a bare aiohttp handler",
    "P7W": "bench.p7_two_processes:2 sidecar processes sharing one port vs a bare aiohttp handler in 2 processes",
    "P8": "bench.p8_memory:memory of `nono run`, idle and after 10,000 sessions",
    "P9": "bench.p9_memory_ttft:time to first token, facts + summary at their caps vs none",
    "P10": "bench.p10_summary_pressure:time to first token, 20 conversations' summaries pending vs none",
    "P11": "bench.p11_line_cost:per-turn cost of the shared (cross-process) lines vs in-process lines, Redis",
    "P12": "bench.p12_openai_stream:one reply streamed through the openai backend vs the openai client alone",
}

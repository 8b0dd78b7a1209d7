"""vLLM's state read from its log, over excerpts in vLLM 0.x's own formats (V1 engine, V0 engine, uvicorn)."""

from __future__ import annotations

import pytest

from gpuwatch_desktop.core.vllm_state import VllmPhase, VllmState, VllmStateReader, short_error, strip_prefix

START_V1 = """\
INFO 06-02 09:14:02 [__init__.py:244] Automatically detected platform cuda.
(APIServer pid=1) INFO 06-02 09:14:07 [api_server.py:1839] vLLM API server version 0.11.0
(APIServer pid=1) INFO 06-02 09:14:07 [utils.py:233] non-default args: {'model': 'Qwen/Qwen2.5-7B-Instruct', \
'enable_auto_tool_choice': True, 'tool_call_parser': 'hermes'}
(APIServer pid=1) INFO 06-02 09:14:15 [model.py:547] Resolved architecture: Qwen2ForCausalLM
(EngineCore_DP0 pid=212) INFO 06-02 09:14:24 [core.py:77] Initializing a V1 LLM engine (v0.11.0) with config: \
model='Qwen/Qwen2.5-7B-Instruct', speculative_config=None, tokenizer='Qwen/Qwen2.5-7B-Instruct'
(EngineCore_DP0 pid=212) INFO 06-02 09:14:26 [gpu_model_runner.py:2602] Starting to load model \
Qwen/Qwen2.5-7B-Instruct...
(EngineCore_DP0 pid=212) INFO 06-02 09:14:27 [cuda.py:366] Using Flash Attention backend on V1 engine.
Loading safetensors checkpoint shards:   0% Completed | 0/5 [00:00<?, ?it/s]
Loading safetensors checkpoint shards:  20% Completed | 1/5 [00:02<00:09,  2.31s/it]
Loading safetensors checkpoint shards:  40% Completed | 2/5 [00:04<00:06,  2.18s/it]
""".splitlines()

LOADED_V1 = """\
Loading safetensors checkpoint shards:  60% Completed | 3/5 [00:06<00:04,  2.12s/it]
Loading safetensors checkpoint shards:  80% Completed | 4/5 [00:08<00:02,  2.09s/it]
Loading safetensors checkpoint shards: 100% Completed | 5/5 [00:10<00:00,  2.04s/it]
(EngineCore_DP0 pid=212) INFO 06-02 09:14:38 [default_loader.py:267] Loading weights took 10.37 seconds
(EngineCore_DP0 pid=212) INFO 06-02 09:14:38 [gpu_model_runner.py:2653] Model loading took 14.25 GiB and \
11.02 seconds
(EngineCore_DP0 pid=212) INFO 06-02 09:14:52 [gpu_worker.py:298] Available KV cache memory: 52.10 GiB
Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 100%|██████████| 67/67 [00:04<00:00, 15.02it/s]
(EngineCore_DP0 pid=212) INFO 06-02 09:15:01 [core.py:210] init engine (profile, create kv cache, warmup model) \
took 36.52 seconds
(APIServer pid=1) INFO 06-02 09:15:03 [api_server.py:1634] Supported_tasks: ['generate']
(APIServer pid=1) INFO 06-02 09:15:03 [api_server.py:1912] Starting vLLM API server 0 on http://0.0.0.0:8000
(APIServer pid=1) INFO 06-02 09:15:03 [launcher.py:34] Available routes are:
(APIServer pid=1) INFO 06-02 09:15:03 [launcher.py:42] Route: /openapi.json, Methods: GET, HEAD
(APIServer pid=1) INFO 06-02 09:15:03 [launcher.py:42] Route: /v1/chat/completions, Methods: POST
(APIServer pid=1) INFO:     Started server process [1]
(APIServer pid=1) INFO:     Waiting for application startup.
(APIServer pid=1) INFO:     Application startup complete.
""".splitlines()

OOM_V1 = """\
(EngineCore_DP0 pid=212) INFO 06-02 09:14:52 [gpu_worker.py:298] Available KV cache memory: -3.41 GiB
(EngineCore_DP0 pid=212) ERROR 06-02 09:14:53 [core.py:708] EngineCore failed to start.
(EngineCore_DP0 pid=212) ERROR 06-02 09:14:53 [core.py:708] Traceback (most recent call last):
(EngineCore_DP0 pid=212) ERROR 06-02 09:14:53 [core.py:708]   File "/usr/local/lib/python3.12/dist-packages/\
vllm/v1/engine/core.py", line 699, in run_engine_core
(EngineCore_DP0 pid=212) ERROR 06-02 09:14:53 [core.py:708]     engine_core = EngineCoreProc(*args, **kwargs)
(EngineCore_DP0 pid=212) ERROR 06-02 09:14:53 [core.py:708] torch.OutOfMemoryError: CUDA out of memory. Tried \
to allocate 1.96 GiB. GPU 0 has a total capacity of 79.19 GiB of which 1.02 GiB is free.
(EngineCore_DP0 pid=212) Process EngineCore_DP0:
(EngineCore_DP0 pid=212) Traceback (most recent call last):
(APIServer pid=1) Traceback (most recent call last):
(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
""".splitlines()


def read(*chunks: list[str]) -> VllmStateReader:
    reader = VllmStateReader()
    for chunk in chunks:
        reader.feed_all(chunk)
    return reader


def test_nothing_read_is_not_running() -> None:
    assert VllmStateReader().state == VllmState(VllmPhase.NOT_RUNNING)
    assert VllmState().summary() == "Not running"


def test_loading_shows_the_shard_percentage() -> None:
    state = read(START_V1).state
    assert (state.phase, state.percent, state.step) == (VllmPhase.LOADING, 40, "loading weights 2/5")
    assert state.summary() == "Model loading… 40 %"


def test_after_the_weights_it_is_warming_up_then_ready() -> None:
    reader = read(START_V1)
    changes = []
    for line in LOADED_V1:
        if reader.feed(line):
            changes.append(reader.state.summary())
    assert changes[:3] == ["Model loading… 60 %", "Model loading… 80 %", "Model loading… 100 %"]
    assert "Model loading… warming up" in changes
    assert changes[-1] == "Ready" and reader.state.phase is VllmPhase.READY


def test_start_line_alone_is_loading_and_route_listing_is_ready() -> None:
    reader = read(START_V1[:2])
    assert reader.state.phase is VllmPhase.LOADING and reader.state.summary() == "Model loading… starting"
    reader.feed("(APIServer pid=1) INFO 06-02 09:15:03 [launcher.py:34] Available routes are:")
    assert reader.state.phase is VllmPhase.READY


def test_oom_fails_with_the_out_of_memory_line() -> None:
    state = read(START_V1, OOM_V1).state
    assert state.phase is VllmPhase.FAILED
    assert state.error.startswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB.")
    assert state.summary() == "Failed: CUDA out of memory"


def test_a_failure_without_oom_names_the_root_exception() -> None:
    lines = [
        "(EngineCore_DP0 pid=98) ERROR 04-30 19:50:08 [core.py:1108] EngineCore failed to start.",
        "(EngineCore_DP0 pid=98) ERROR 04-30 19:50:08 [core.py:1108] Traceback (most recent call last):",
        "(EngineCore_DP0 pid=98) ERROR 04-30 19:50:08 [core.py:1108] ValueError: The model's max seq len (32768) "
        "is larger than the maximum number of tokens that can be stored in KV cache (20400).",
        "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above.",
    ]
    state = read(START_V1, lines).state
    assert state.phase is VllmPhase.FAILED
    assert state.error.startswith("ValueError: The model's max seq len (32768)")
    assert state.summary().startswith("Failed: ValueError: The model's max seq len") and len(state.summary()) < 100


def test_restart_after_a_failure_loads_again_and_gets_ready() -> None:
    reader = read(START_V1, OOM_V1)
    assert reader.state.phase is VllmPhase.FAILED
    reader.feed_all(["Loading safetensors checkpoint shards:  60% Completed | 3/5 [00:06<00:04,  2.12s/it]"])
    assert reader.state.phase is VllmPhase.FAILED, "a stray progress line does not undo a failure"
    reader.feed_all(START_V1)
    assert (reader.state.phase, reader.state.percent) == (VllmPhase.LOADING, 40)
    assert reader.state.error == ""
    reader.feed_all(LOADED_V1)
    assert reader.state.phase is VllmPhase.READY


def test_a_request_error_while_ready_keeps_it_ready_but_a_dead_engine_fails() -> None:
    reader = read(START_V1, LOADED_V1)
    reader.feed_all([
        '(APIServer pid=1) INFO:     10.0.0.7:51234 - "POST /v1/chat/completions HTTP/1.1" 200 OK',
        "(APIServer pid=1) ERROR 06-02 10:01:11 [serving_chat.py:222] Error in preprocessing prompt inputs",
        "(APIServer pid=1) ERROR:    Exception in ASGI application",
        "(APIServer pid=1) Traceback (most recent call last):",
        "(APIServer pid=1) ValueError: This model's maximum context length is 32768 tokens.",
    ])
    assert reader.state.phase is VllmPhase.READY
    reader.feed_all([
        "(EngineCore_DP0 pid=212) ERROR 06-02 10:05:00 [core.py:720] EngineCore encountered a fatal error.",
        "(EngineCore_DP0 pid=212) ERROR 06-02 10:05:00 [core.py:720] torch.OutOfMemoryError: CUDA out of memory. "
        "Tried to allocate 2.00 GiB.",
        "(APIServer pid=1) INFO:     Shutting down",
        "(APIServer pid=1) INFO:     Finished server process [1]",
    ])
    assert reader.state.phase is VllmPhase.FAILED and reader.state.summary() == "Failed: CUDA out of memory"


def test_a_clean_shutdown_is_not_running() -> None:
    reader = read(START_V1, LOADED_V1)
    reader.feed_all(["(APIServer pid=1) INFO:     Shutting down",
                     "(APIServer pid=1) INFO:     Finished server process [1]"])
    assert reader.state == VllmState(VllmPhase.NOT_RUNNING)


def test_v0_engine_format() -> None:
    lines = [
        "INFO 11-27 02:01:37 api_server.py:585] vLLM API server version 0.6.4.post1",
        "INFO 11-27 02:01:37 api_server.py:586] args: Namespace(subparser='serve', model_tag='/models/llama')",
        "INFO 11-27 02:01:50 llm_engine.py:249] Initializing an LLM engine (v0.6.4.post1) with config: model=...",
        "Loading safetensors checkpoint shards:  33% Completed | 10/30 [01:02<02:04,  6.20s/it]",
    ]
    reader = read(lines)
    assert (reader.state.percent, reader.state.step) == (33, "loading weights 10/30")
    reader.feed_all([
        "INFO 11-27 02:14:01 api_server.py:642] Starting vLLM API server on http://0.0.0.0:8000",
        "INFO 11-27 02:14:01 launcher.py:19] Available routes are:",
    ])
    assert reader.state.phase is VllmPhase.READY


def test_tqdm_updates_joined_by_carriage_returns_take_the_last() -> None:
    line = ("Loading safetensors checkpoint shards:   0% Completed | 0/4 [00:00<?, ?it/s]\r"
            "Loading safetensors checkpoint shards:  25% Completed | 1/4 [00:07<00:21,  7.16s/it]\r"
            "Loading safetensors checkpoint shards:  75% Completed | 3/4 [00:21<00:07,  7.10s/it]")
    assert read([line]).state.percent == 75


def test_a_tail_that_starts_while_serving_is_ready() -> None:
    reader = read(['INFO:     127.0.0.1:40312 - "POST /v1/chat/completions HTTP/1.1" 200 OK'])
    assert reader.state.phase is VllmPhase.READY
    reader = read(["INFO 06-02 10:00:09 [loggers.py:123] Engine 000: Avg prompt throughput: 112.3 tokens/s"])
    assert reader.state.phase is VllmPhase.READY


def test_warnings_with_error_words_do_not_fail_loading() -> None:
    reader = read(START_V1, [
        "(EngineCore_DP0 pid=212) <frozen importlib._bootstrap_external>:1297: FutureWarning: The cuda.cudart "
        "module is deprecated",
        "(EngineCore_DP0 pid=212) /usr/lib/python3/vllm/utils.py:113: UserWarning: Input tensor shape suggests "
        "potential format mismatch",
        "(EngineCore_DP0 pid=212) WARNING 06-02 09:14:30 [fused_moe.py:727] Using default MoE config. "
        "Performance might be sub-optimal! Config file not found",
    ])
    assert reader.state.phase is VllmPhase.LOADING and reader.state.percent == 40


@pytest.mark.parametrize(("line", "level", "message"), [
    ("(EngineCore_DP0 pid=8) ERROR 10-08 01:47:51 [core.py:708] EngineCore failed to start.", "ERROR",
     "EngineCore failed to start."),
    ("INFO 01-26 17:51:41 api_server.py:786] vLLM API server version 0.6.6", "INFO", "vLLM API server version 0.6.6"),
    ("(APIServer pid=1) INFO:     Application startup complete.", "INFO", "Application startup complete."),
    ("2026-04-19 17:34:11.073 | (APIServer pid=1) WARNING 04-19 15:34:11 [model.py:1637] Default sampling",
     "WARNING", "Default sampling"),
    ("vllm-1  | ERROR 02-08 23:47:59 [core.py:1] boom", "ERROR", "boom"),
    ("RuntimeError: a | b", "", "RuntimeError: a | b"),
    ("\x1b[32mINFO\x1b[0m:     Uvicorn running on http://0.0.0.0:8000", "INFO", "Uvicorn running on http://0.0.0.0:8000"),
])
def test_strip_prefix(line: str, level: str, message: str) -> None:
    assert strip_prefix(line) == (level, message)


def test_short_error() -> None:
    assert short_error("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB") == "CUDA out of memory"
    assert short_error("x" * 200) == "x" * 79 + "…"

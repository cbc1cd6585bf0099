"""Session options shared by every ONNX model of the engine (VAD, Smart Turn, Kokoro, Piper)."""

from __future__ import annotations

import onnxruntime as rt


def session_options(threads: int) -> rt.SessionOptions:
    """`threads` for each inference, and threads that sleep when it is done.

    By default onnxruntime's threads spin for a while after each inference, waiting for the
    next. On two cores shared by four ONNX models, Whisper and the LLM, that spinning took the
    cores from whatever ran next: a reply's first chunk took Kokoro 2-3 times as long in the
    engine as alone.

    Each session keeps onnxruntime's memory arena. Without it (tried), Kokoro's memory stayed
    flat alone, but in the engine its large tensors came from the shared heap instead: over a
    30-minute soak the resident size grew three times as much (+123 MB against +40 MB), and
    with glibc's mmap threshold fixed low to avoid that, each tensor's fresh mapping made a
    Chinese first chunk twice as slow.

    Each session plans no memory patterns: onnxruntime keeps one plan per set of input shapes it
    has seen, for good, and every text Kokoro or Piper reads has its own length. Measured on
    Kokoro reading 160 texts of 1-14 words: with the plans its C heap took 134 MB more and still
    grew ~30 KB a text at the end; without, it stayed flat, and synthesis took as long.
    """
    options = rt.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options

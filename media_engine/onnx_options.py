"""Session options shared by every ONNX model of the engine (VAD, Smart Turn, Kokoro, Piper)."""

from __future__ import annotations

import onnxruntime as rt


def session_options(threads: int) -> rt.SessionOptions:
    """`threads` for each inference, and threads that sleep when it is done.

    By default onnxruntime's threads spin for a while after each inference, waiting for the
    next. On two cores shared by four ONNX models, Whisper and the LLM, that spinning took the
    cores from whatever ran next: a reply's first chunk took Kokoro 2-3 times as long in the
    engine as alone.

    Nor does a session keep its own memory arena. The arena grows to the largest input each
    model has seen and never gives it back: Kokoro's took 35 MB over its first 20 phrases of
    new lengths, which the soak benchmark counted as growth. Without it the same phrases took
    the same time (1,174 against 1,175 ms for six words on 2 cores).
    """
    options = rt.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options

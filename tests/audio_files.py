"""Real audio files written with FFmpeg's own encoders (PyAV), for tests of every accepted format."""

from __future__ import annotations

import io

import av
import numpy as np
from numpy.typing import NDArray


def encode(planar: NDArray[np.float32], rate: int, fmt: str, codec: str) -> bytes:
    """(channels, samples) float audio in [-1, 1] -> the bytes of a file in ``fmt`` with ``codec``."""
    channels = planar.shape[0]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "stereo" if channels == 2 else "mono"
        sample_format = stream.codec_context.codec.audio_formats[0].name
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=sample_format, layout=stream.layout.name, rate=rate)
        for start in range(0, planar.shape[1], frame_size):
            chunk = planar[:, start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk, dtype=np.float32), format="fltp", layout=stream.layout.name
            )
            frame.sample_rate = rate
            frame.pts = start
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def resampled(samples: NDArray[np.float32], rate_in: int, rate_out: int) -> NDArray[np.float32]:
    """Linear-interpolation resampling: enough to make test input at another rate."""
    n_out = int(len(samples) * rate_out / rate_in)
    return np.interp(np.arange(n_out) * rate_in / rate_out, np.arange(len(samples)), samples).astype(
        np.float32
    )

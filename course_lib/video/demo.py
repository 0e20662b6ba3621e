"""The course's own demo video: a synthetic video of the embedded dataset (moving digits, the
scenes of notebook 02) rendered to a real H.264 MP4, so notebook 07 and the tests summarize a
file that went through real encoding and decoding, with nothing downloaded."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

DEMO_FPS = Fraction(30)  # 15 frames per sampled frame at 2 per second: the dataset's own picks


def render_video(record, path: str | Path, fps: Fraction | float = DEMO_FPS,
                 canvas: int = 64, crf: int = 12) -> Path:
    """Render a synthetic :class:`~course_lib.data.summarization.VideoRecord` frame by frame (one
    scene in memory at a time) into an MP4 at ``fps``; returns its path."""
    from course_lib.data.synthetic_videos import render_scene
    from course_lib.video.outputs import VideoWriter

    with VideoWriter(path, fps, canvas, canvas, crf=crf) as writer:
        for (start, end), params in zip(record.extras["scene_bounds"],
                                        record.extras["scene_params"], strict=True):
            for frame in render_scene(params, int(end - start + 1), canvas):
                writer.write(np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8))
    return Path(path)

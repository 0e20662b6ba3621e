"""Exercises of notebook 07 (summarize a video) and their checkers.

Stored values: ``references/07.npz``, written by ``python -m course_lib.exercises.references``.
Each exercise's ``mistakes`` are the wrong answers its inputs tell apart from the right one;
``tests/test_exercises_lecture07.py`` writes them again independently and asserts each is
rejected.
"""

from __future__ import annotations

import numpy as np

from course_lib.exercises.core import Exercise, Mistake, use_if_passed
from course_lib.video import pipeline
from course_lib.video.decode import sample_indices

NTSC = 30000 / 1001  # 29.97 fps


def _sampling_inputs():
    return {
        "29.97 fps, 40 s: every 15th frame drifts off after 34 samples": (1200, NTSC),
        "25 fps: 12.5 frames apart, halves round up": (100, 25.0),
        "47 frames at 30 fps: the last sample, 45, is inside": (47, 30.0),
    }


def _sampled(n_frames, fps, *, rounding=lambda x: np.floor(x + 0.5), first=0):
    step = fps / 2
    picks = rounding(np.arange(int(n_frames / step) + 2) * step).astype(np.int64) + first
    return picks[picks < n_frames]


def _shot_inputs():
    change_points = np.array([[0, 44], [45, 104], [105, 179], [180, 299], [300, 389],
                              [390, 449]])
    return {"six shots of a 29.97 fps video, three chosen": (change_points, np.array([1, 3, 4]),
                                                             NTSC),
            "the same, two chosen, the later first": (change_points, np.array([4, 1]), NTSC),
            # the video's last shot: no next shot whose start would be its end
            "the last shot and the first": (change_points, np.array([5, 0]), NTSC)}


def _times(change_points, shots, fps, *, end_extra=1, all_shots=False):
    bounds = change_points if all_shots else change_points[np.asarray(shots)]
    return np.stack([bounds[:, 0], bounds[:, 1] + end_extra], axis=1) / fps


def _key_frame_inputs():
    change_points = np.array([[0, 29], [30, 44], [45, 49], [50, 119]])
    picks = np.array([0, 15, 30, 44, 60, 75, 90, 105])
    scores = np.array([0.2, 0.4, 0.3, 0.9, 0.1, 0.8, 0.8, 0.5])
    # Shot 1 (frames 30-44) has its best sample on its last frame, 44; shot 2 (45-49) has no
    # sample; in shot 3, 75 ties with 90: the first wins.
    return {"four shots, one sampled frame on a shot's last frame, a tie": (
        change_points, picks, scores),
        "a shot with no sampled frame": (np.array([[0, 9], [10, 12], [13, 40]]),
                                         np.array([0, 5, 15, 30]), np.array([0.1, 0.7, 0.3,
                                                                             0.6]))}


def _keys(change_points, picks, scores, *, positions=False, exclusive=False, middle=False):
    keys = []
    for start, end in change_points:
        inside = np.flatnonzero((picks >= start) & ((picks < end) if exclusive else
                                                    (picks <= end)))
        if middle or not len(inside):
            keys.append((start + end) // 2 if middle else start)
            continue
        best = inside[np.argmax(scores[inside])]
        keys.append(best if positions else picks[best])
    return np.asarray(keys)


FIXED_STRIDE = ("sample by time: frame round(k · fps / 2). A fixed stride drifts: every 15th "
                "frame is 2 per second only at exactly 30 fps.")
SAMPLING = Exercise(
    "07", "sample_indices", _sampling_inputs, sample_indices, dtype="kind", rtol=0, atol=0,
    hint="Return the frame numbers round(k · fps / 2) for k = 0, 1, … (halves rounded up: "
         "np.floor(x + 0.5)) that are below n_frames, as an integer array.",
    mistakes=(
        Mistake(FIXED_STRIDE, lambda n, fps: np.arange(0, n, round(fps / 2))),
        Mistake(FIXED_STRIDE, lambda n, fps: np.arange(0, n, 15)),  # the benchmark's "15th"
        Mistake("round to the nearest frame (halves up), not down: 14.985 is frame 15.",
                lambda n, fps: _sampled(n, fps, rounding=np.floor)),
        Mistake("round halves up (np.floor(x + 0.5)): np.round sends 12.5 to 12 (to even).",
                lambda n, fps: _sampled(n, fps, rounding=np.round)),
        Mistake("use the exact frame rate (29.97 is 30000/1001), not int(fps).",
                lambda n, fps: _sampled(n, int(fps))),
        Mistake("frames are numbered from 0: the first sample is frame 0.",
                lambda n, fps: _sampled(n, fps, first=1)),
    ))
SHOT_TIMES = Exercise(
    "07", "shot_times", _shot_inputs, pipeline.shot_times,
    hint="Return a float array [n_chosen, 2]: for each chosen shot (in the order given) its "
         "start s / fps and its end (e + 1) / fps in seconds, where [s, e] are its inclusive "
         "frames.",
    mistakes=(
        Mistake("a shot of frames s..e ends when frame e ends, at (e + 1) / fps, not e / fps.",
                lambda cp, shots, fps: _times(cp, shots, fps, end_extra=0)),
        Mistake("use the exact frame rate (29.97), not a rounded one.",
                lambda cp, shots, fps: _times(cp, shots, round(fps))),
        Mistake("return the chosen shots only (index change_points with shots).",
                lambda cp, shots, fps: _times(cp, shots, fps, all_shots=True)),
        Mistake("divide by fps: the times are in seconds, not frames.",
                lambda cp, shots, fps: _times(cp, shots, 1.0)),
        Mistake("keep the shots in the order given: row i is the times of shots[i], even when "
                "shots is not sorted.",
                lambda cp, shots, fps: _times(cp, np.sort(shots), fps)),
    ))
KEY_FRAMES = Exercise(
    "07", "key_frames", _key_frame_inputs, pipeline.key_frames, dtype="kind", rtol=0, atol=0,
    hint="For each shot [s, e], return the frame number picks[i] of its highest-scoring sampled "
         "frame (s <= picks[i] <= e; the first on a tie), or s when no frame of it was sampled.",
    mistakes=(
        Mistake("return frame numbers (picks[i]), not positions in picks.",
                lambda cp, p, s: _keys(cp, p, s, positions=True)),
        Mistake("a shot's frames run from s to e inclusive: a sample on frame e belongs to it.",
                lambda cp, p, s: _keys(cp, p, s, exclusive=True)),
        Mistake("the key frame is the shot's highest-scoring sampled frame, not its middle.",
                lambda cp, p, s: _keys(cp, p, s, middle=True)),
        Mistake("take the best sampled frame of each shot, not the video's best for all.",
                lambda cp, p, s: np.full(len(cp), p[np.argmax(s)])),
    ))

EXERCISES = [SAMPLING, SHOT_TIMES, KEY_FRAMES]
check_sample_indices = SAMPLING.check
check_shot_times = SHOT_TIMES.check
check_key_frames = KEY_FRAMES.check

# What a notebook uses as `ex.<name>`.
__all__ = ["EXERCISES", "check_sample_indices", "check_shot_times", "check_key_frames",
           "use_if_passed"]

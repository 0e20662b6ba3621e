"""Notebook 07's exercises: plausible wrong answers, written here independently of the checkers'
own list, must each be rejected with a hint that names the mistake. The tables are run by
tests/test_exercises.py's tests, with every other lecture's."""

import math

import numpy as np


def every_nth(n_frames, fps):
    step = round(fps / 2)
    return np.arange(0, n_frames, step)


def by_time(n_frames, fps, to_int=int, start=0):
    out, k = [], 0
    while True:
        frame = to_int(k * fps / 2) + start
        if frame >= n_frames:
            return np.array(out)
        out.append(frame)
        k += 1


def times_loop(change_points, shots, fps, end_extra=1, chosen=True):
    rows = [change_points[i] for i in shots] if chosen else list(change_points)
    return np.array([[s / fps, (e + end_extra) / fps] for s, e in rows])


def best_in_shot(change_points, picks, scores, inclusive=True, as_position=False, default=None):
    out = []
    for s, e in change_points:
        best = None
        for i, p in enumerate(picks):
            if s <= p and (p <= e if inclusive else p < e):
                if best is None or scores[i] > scores[best]:
                    best = i
        if best is None:
            out.append(s if default is None else default(s, e))
        else:
            out.append(best if as_position else picks[best])
    return np.array(out)


WRONG = {
    "sample_indices": [
        (every_nth, "A fixed stride drifts"),
        (lambda n, fps: list(range(0, n, 15)), "A fixed stride drifts"),  # "every 15th frame"
        (lambda n, fps: by_time(n, fps), "not down"),
        (lambda n, fps: by_time(n, fps, to_int=lambda x: int(np.round(x))), "np.round"),
        (lambda n, fps: by_time(n, int(fps), to_int=lambda x: math.floor(x + 0.5)),
         "not int(fps)"),
        (lambda n, fps: by_time(n, fps, to_int=lambda x: math.floor(x + 0.5), start=1),
         "numbered from 0"),
    ],
    "shot_times": [
        (lambda cp, shots, fps: times_loop(cp, shots, fps, end_extra=0), "(e + 1) / fps"),
        (lambda cp, shots, fps: times_loop(cp, shots, 30), "exact frame rate"),
        (lambda cp, shots, fps: times_loop(cp, shots, fps, chosen=False), "chosen shots only"),
        (lambda cp, shots, fps: times_loop(cp, shots, fps) * fps, "not frames"),
        (lambda cp, shots, fps: times_loop(cp, sorted(shots), fps), "order given"),
        # a shot ends where the next starts: right until the video's last shot is chosen
        (lambda cp, shots, fps: np.stack([cp[shots, 0], cp[np.asarray(shots) + 1, 0]], 1) / fps,
         "IndexError"),
    ],
    "key_frames": [
        (lambda cp, p, s: best_in_shot(cp, p, s, as_position=True), "not positions"),
        (lambda cp, p, s: best_in_shot(cp, p, s, inclusive=False), "inclusive"),
        (lambda cp, p, s: (cp[:, 0] + cp[:, 1]) // 2, "not its middle"),
        (lambda cp, p, s: np.repeat(p[np.argmax(s)], len(cp)), "not the video's best"),
    ],
}

RIGHT = {
    "sample_indices": [lambda n, fps: by_time(n, fps, to_int=lambda x: math.floor(x + 0.5)),
                       lambda n, fps: list(by_time(n, fps, to_int=lambda x: math.floor(x + 0.5)))],
    "shot_times": [times_loop, lambda cp, shots, fps: times_loop(cp, shots, fps).tolist()],
    "key_frames": [best_in_shot, lambda cp, p, s: best_in_shot(cp, p, s).tolist()],
}

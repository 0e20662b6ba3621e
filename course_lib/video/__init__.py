"""Summarize a video file end to end (notebook 07, ``course-summarize``), one module per stage.

:mod:`~course_lib.video.decode` reads a file and samples it at 2 frames per second,
:mod:`~course_lib.video.features` turns the sampled frames into features (GoogLeNet pool5, the
benchmark's kind, or a weight-free fallback), :mod:`~course_lib.video.summarizers` loads a trained
model of the SUM-GAN family, :mod:`~course_lib.video.pipeline` cuts shots (the course's KTS),
scores them and picks the summary (the course's knapsack), and :mod:`~course_lib.video.outputs`
writes the summary video, the figures and the h5 file, each atomically. :mod:`~course_lib.video.
demo` renders the course's own demo video, so everything runs offline.
"""

from course_lib.errors import CourseError


class VideoError(CourseError):
    """A video, a model or an output folder that cannot be used; the message names the fix."""

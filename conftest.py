"""Settings for every test session: the unit tests and the notebooks that nbval runs.

Set before any kernel starts, so the notebooks' kernels inherit them: the smoke tier, and a
fresh checkpoint folder so every run really trains instead of loading an earlier checkpoint.
"""

import os
import tempfile

os.environ.setdefault("COURSE_TIER", "smoke")
os.environ.setdefault("COURSE_CHECKPOINT_DIR", tempfile.mkdtemp(prefix="course-checkpoints-"))

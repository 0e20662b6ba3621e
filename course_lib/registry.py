"""The summarizers by name: the one list that notebooks, the experiment runner and its report read.

A :class:`Method` says how to get a method's configuration at a tier, build a model from it and
train it; ``runner`` names the method's models in ``course-experiments`` and the trainer each
uses. The SUM-GAN family is registered below; a new summarizer needs one :func:`register` call
(README, "Add a summarizer"), and no other file changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.config import sum_gan_aae_config, sum_gan_config, sum_gan_sl_config
from course_lib.errors import CourseError
from course_lib.models import sum_gan, sum_gan_aae, sum_gan_sl


@dataclass(frozen=True)
class Method:
    """One summarizer: ``config(tier, verbose=False)`` → its configuration (a dataclass);
    ``build(config, seed)`` → a model; ``fit(model, config, dataset, split, *, seed, checkpoint,
    live, on_evaluate)`` → a :class:`~course_lib.models.summarizer_training.SumGanRun`.

    ``runner`` maps the runner's model names to the trainer each uses: ``None`` (the method's
    own, as configured), ``"faithful"`` (one video per update in the split's order) or
    ``"fast"`` (several videos of similar length per update); the last two need a configuration
    with ``videos_per_update`` and ``training_order``.
    """

    name: str
    notebook: str
    config: Callable
    build: Callable
    fit: Callable
    runner: Mapping[str, str | None] = field(default_factory=dict, hash=False)


_METHODS: dict[str, Method] = {}


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` (under its ``name``) and its runner models; returns it. A name already
    taken, by the method or by one of its runner models, is an error unless ``replace``."""
    taken = {model: other.name for other in _METHODS.values() if other.name != method.name
             for model in other.runner}
    if clash := sorted(set(method.runner) & set(taken)):
        raise CourseError(f"runner model {clash[0]!r} of {method.name} is already "
                          f"{taken[clash[0]]}'s: give it another name.")
    if method.name in _METHODS and not replace:
        raise CourseError(f"a summarizer named {method.name!r} is registered already: choose "
                          "another name, or pass replace=True to redefine it.")
    _METHODS[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method registered by :func:`register` (a test's or a notebook's own)."""
    if _METHODS.pop(name, None) is None:
        raise CourseError(f"no summarizer named {name!r} is registered: the registered ones are "
                          f"{', '.join(_METHODS)}.")


PLUGINS_ENV_VAR = "COURSE_SUMMARIZERS"
"""Modules (importable names or ``.py`` files, separated by commas) that register summarizers
of your own when imported: how ``course-experiments``, and the job processes it starts for
``--jobs N``, learn about them."""

_PLUGINS_LOADED: set[str] = set()


def load_plugins() -> None:
    """Import each module named in ``$COURSE_SUMMARIZERS`` once (each registers its methods)."""
    for entry in filter(None, (e.strip() for e in os.environ.get(PLUGINS_ENV_VAR, "").split(","))):
        if entry in _PLUGINS_LOADED:
            continue
        _PLUGINS_LOADED.add(entry)
        try:
            if entry.endswith(".py"):
                spec = importlib.util.spec_from_file_location(Path(entry).stem, entry)
                if spec is None or not Path(entry).is_file():
                    raise FileNotFoundError(entry)
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(entry)
        except (ImportError, FileNotFoundError) as error:
            _PLUGINS_LOADED.discard(entry)
            raise CourseError(f"${PLUGINS_ENV_VAR} names {entry!r}, which cannot be imported "
                              f"({error}): give an importable module name or the path of a .py "
                              "file that calls course_lib.registry.register.") from None


def family() -> dict[str, Method]:
    """The registered methods by name, in the order they were registered (your own, named in
    ``$COURSE_SUMMARIZERS``, included)."""
    load_plugins()
    return dict(_METHODS)


def runner_models() -> dict[str, tuple[Method, str | None]]:
    """The runner's model names → (method, trainer): the methods' own and faithful trainers in
    registration order, then the fast ones (the order of the report's tables)."""
    load_plugins()
    models = [(model, method, trainer) for method in _METHODS.values()
              for model, trainer in method.runner.items()]
    return {model: (method, trainer) for model, method, trainer
            in sorted(models, key=lambda m: m[2] == "fast")}


register(Method("SUM-GAN", "03", sum_gan_config, sum_gan.build_sum_gan, sum_gan.fit_sum_gan,
                runner={"sum-gan": None}))
register(Method("SUM-GAN-sl", "04", sum_gan_sl_config, sum_gan_sl.build_sum_gan_sl,
                sum_gan_sl.fit_sum_gan_sl,
                runner={"sum-gan-sl": "faithful", "sum-gan-sl-fast": "fast"}))
register(Method("SUM-GAN-AAE", "05", sum_gan_aae_config, sum_gan_aae.build_sum_gan_aae,
                sum_gan_aae.fit_sum_gan_aae,
                runner={"sum-gan-aae": "faithful", "sum-gan-aae-fast": "fast"}))

import pytest

from course_lib import config


def test_tier_from_parameter_beats_environment(monkeypatch):
    monkeypatch.setenv(config.TIER_ENV_VAR, "paper")
    assert config.resolve_tier("smoke", verbose=False) == "smoke"
    assert config.resolve_tier(None, verbose=False) == "paper"


def test_default_tier_follows_the_hardware(monkeypatch):
    monkeypatch.delenv(config.TIER_ENV_VAR, raising=False)
    monkeypatch.setattr(config.torch.cuda, "is_available", lambda: False)
    assert config.resolve_tier(verbose=False) == "laptop"
    monkeypatch.setattr(config.torch.cuda, "is_available", lambda: True)
    assert config.resolve_tier(verbose=False) == "paper"


def test_unknown_tier_says_how_to_fix_it(monkeypatch):
    monkeypatch.setenv(config.TIER_ENV_VAR, "huge")
    with pytest.raises(ValueError, match=r"smoke, laptop, paper.*COURSE_TIER"):
        config.resolve_tier(verbose=False)


def test_autoencoder_tiers_grow_to_the_paper_sizes():
    smoke, laptop, paper = (config.autoencoder_config(t) for t in config.TIERS)
    assert smoke.steps < laptop.steps < paper.steps
    assert smoke.hidden_size < laptop.hidden_size < paper.hidden_size == 2048
    assert (paper.num_layers, paper.frame_size, paper.n_input, paper.n_future) == (2, 4096, 10, 10)
    assert (paper.canvas, paper.n_digits, paper.optimizer) == (64, 2, "adam")


def test_laptop_autoencoder_tier_is_a_smaller_task():
    # Two digits on 64x64 stay grey blobs after a few CPU minutes: the laptop tier shows one.
    laptop = config.autoencoder_config("laptop")
    assert (laptop.canvas, laptop.n_digits, laptop.frame_size) == (40, 1, 1600)

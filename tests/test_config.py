import dataclasses

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
    # Only the laptop tier multiplies in bfloat16, and only where the CPU does so in hardware.
    assert smoke.matmul_dtype == paper.matmul_dtype == "float32"
    assert laptop.matmul_dtype == config.cpu_matmul_dtype()


def test_laptop_autoencoder_tier_is_a_smaller_task():
    # Two digits on 64x64 stay grey blobs after a few CPU minutes: the laptop tier shows one.
    laptop = config.autoencoder_config("laptop")
    assert (laptop.canvas, laptop.n_digits, laptop.frame_size) == (40, 1, 1600)


@pytest.mark.parametrize("make", [config.sum_gan_sl_config, config.sum_gan_aae_config])
def test_each_trainer_has_its_own_laptop_rates(make):
    # At the fast trainer's rates the faithful trainer diverged at the laptop tier (the
    # reconstruction grew from 0.5 to 9.8 and the discriminator won outright; measured in
    # course_lib/config.py): it keeps the reference's rates. The fast trainer makes
    # videos_per_update times fewer updates per epoch, so its rates are that many times the
    # reference's: the same rate x updates per epoch, which kept it stable, where 10x did not.
    reference = make("paper", verbose=False)
    faithful, fast = (make("laptop", verbose=False, trainer=t) for t in ("faithful", "fast"))
    assert make("laptop", verbose=False) == fast  # the laptop tier's own trainer
    assert (faithful.videos_per_update, faithful.training_order) == (1, "split")
    assert fast.videos_per_update > 1 and fast.training_order == "by_length"
    for rate in ("learning_rate", "discriminator_learning_rate"):
        assert getattr(faithful, rate) == getattr(reference, rate)
        assert getattr(fast, rate) == pytest.approx(
            fast.videos_per_update * getattr(reference, rate))
    assert faithful.sigma == fast.sigma == reference.sigma
    # the faithful trainer trains the first quarter of the epochs (the slowest jobs otherwise)
    assert faithful.epochs == fast.epochs // config.LAPTOP_FAITHFUL_EPOCH_SHARE >= 1


def test_the_paper_tier_is_the_reference_for_the_faithful_trainer():
    defaults = config.SumGanSlConfig("paper")
    faithful = config.sum_gan_sl_config("paper", verbose=False, trainer="faithful")
    assert faithful == dataclasses.replace(defaults, cpu_threads=config.PAPER_CPU_THREADS)
    assert (defaults.learning_rate, defaults.discriminator_learning_rate) == (1e-4, 1e-5)
    fast = config.sum_gan_sl_config("paper", verbose=False, trainer="fast")
    assert fast.videos_per_update > 1 and fast.learning_rate == defaults.learning_rate


def test_the_experiment_runner_uses_each_trainers_configuration():
    from course_lib import experiments as xp

    for name, trainer in (("sum-gan-sl", "faithful"), ("sum-gan-aae-fast", "fast")):
        make = (config.sum_gan_sl_config if "aae" not in name else config.sum_gan_aae_config)
        assert xp.MODELS[name].config("laptop") == make("laptop", verbose=False,
                                                          trainer=trainer)


def test_unknown_trainer_says_which_exist():
    with pytest.raises(ValueError, match="faithful, fast"):
        config.sum_gan_sl_config("laptop", verbose=False, trainer="quick")


def test_only_the_paper_tier_trains_on_more_than_one_thread():
    """Paper-size fits gain from a second core; the small tiers' products do not."""
    from course_lib import experiments as xp

    assert config.PAPER_CPU_THREADS > 1
    for model in xp.MODELS.values():
        assert model.config("paper").cpu_threads == config.PAPER_CPU_THREADS, model
        assert model.config("laptop").cpu_threads == model.config("smoke").cpu_threads == 1


@pytest.mark.parametrize(("name", "parsed"), [
    ("synthetic", ("synthetic", None)), ("synthetic@3", ("synthetic", 3)),
    ("synthetic-digits@12", ("synthetic-digits", 12)), ("synthetic@", None),
    ("synthetic@x", None), ("synthetic@-1", None), ("summe@1", None), ("tvsum", None)])
def test_a_synthetic_datasets_name_may_name_its_draw(name, parsed):
    assert config.synthetic_draw(name) == parsed

"""Summarizing a video file end to end (course_lib.video, course-summarize): a video the test
renders with the course's own scenes goes through every stage; every kind of bad input gets one
clear error and leaves nothing half-written."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import evaluation as ev
from course_lib.config import sum_gan_sl_config
from course_lib.data import summarization as sm
from course_lib.models import sum_gan_sl as sl
from course_lib.summarize_cli import main
from course_lib.training import History, save_checkpoint
from course_lib.video import VideoError, decode, demo, features, outputs, pipeline, summarizers
from course_lib.video.googlenet import FEATURE_DIM, googlenet_pool5


@pytest.fixture(scope="module")
def video(smoke_data, tmp_path_factory):
    """A smoke-tier synthetic video rendered to a real MP4, with its record."""
    data, _ = smoke_data
    record = data["video_1"]
    return demo.render_video(record, tmp_path_factory.mktemp("video") / "clip.mp4"), record


@pytest.fixture(scope="module")
def model():
    """An untrained SUM-GAN-sl of the smoke sizes, said to be trained on the synthetic data."""
    return summarizers.from_model(sl.build_sum_gan_sl(sum_gan_sl_config("smoke", verbose=False),
                                                      0))


def write_frames(path, frames, fps=30, pts=None, rotation=None):
    """A video of ``frames`` (uint8 [T, H, W, 3]); ``pts`` in milliseconds gives a variable rate."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = int(pts[i]), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.start_encoding()  # the header, even without frames
        container.mux(stream.encode())
    return path


def test_sampling_at_2_fps_is_every_15th_frame_at_30_fps_and_follows_the_rate_otherwise():
    assert np.array_equal(decode.sample_indices(100, 30), np.arange(0, 100, 15))
    ntsc = decode.sample_indices(30_000, 30000 / 1001)
    assert ntsc[1] == 15 and len(ntsc) == int(np.ceil(30_000 / (30000 / 1001 / 2)))
    assert np.abs(ntsc - np.arange(len(ntsc)) * 30000 / 1001 / 2).max() <= 0.5  # no drift
    assert not np.array_equal(ntsc, np.arange(0, 30_000, 15)[:len(ntsc)])
    slow = decode.sample_indices(10, 1.0)  # below 2 fps every frame once
    assert np.array_equal(slow, np.arange(10))


def test_a_rendered_video_goes_through_every_stage(video, model, tmp_path):
    path, record = video
    summary = pipeline.summarize(path, model, budget=0.15)
    # Decoding the encoded video recovers the synthetic dataset's own picks and features.
    assert summary.record.n_frames == record.n_frames
    assert np.array_equal(summary.record.picks, record.picks)
    got, want = summary.record.features, record.features
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.999
    assert 0 < summary.summary.sum() <= 0.15 * record.n_frames
    written = pipeline.write_outputs(summary, pipeline.output_paths(path, tmp_path))
    assert set(written) == {"video", "storyboard", "scores", "h5"}
    assert all(p.stat().st_size > 0 for p in written.values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files
    figure = outputs.scores_figure(summary)  # its line named for what it is: the model's scores
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend[0] == f"{summary.summarizer} score"
    plt.close(figure)

    # The h5 reads back with the course's reader and evaluates with made-up annotations.
    back = sm.read_h5(written["h5"])
    group = back["video_1"]
    assert np.array_equal(group.change_points, summary.record.change_points)
    assert np.array_equal(group.n_frame_per_seg, group.shot_lengths)
    assert float(group.extras["fps"]) == 30.0 and group.video_name == path.name
    rng = np.random.default_rng(0)
    annotated = sm.SummarizationDataset("mine", {"video_1": replace(
        group, user_summary=rng.random((3, group.n_frames)) < 0.2)})
    f_read = ev.evaluate(annotated, {"video_1": summary.scores}, ["video_1"]).mean
    own = ev.f_scores(summary.summary, annotated["video_1"].user_summary)
    assert f_read == pytest.approx(float(own.max()))


def test_a_model_of_the_count_option_summarizes_a_video_from_its_features_alone(video):
    """It reads the same features as the reference (it joins its count to them itself)."""
    from dataclasses import replace

    from course_lib.config import improvement

    path, record = video
    config = replace(sum_gan_sl_config("smoke", verbose=False), **improvement("count"))
    counting = summarizers.from_model(sl.build_sum_gan_sl(config, 0))
    assert counting.feature_dim == record.features.shape[1]
    summary = pipeline.summarize(path, counting, budget=0.15)
    assert summary.scores.shape == (len(record.picks),) and 0 < summary.summary.sum()


def test_summary_video_lasts_the_selected_frames_over_the_frame_rate(video, model, tmp_path):
    path, _ = video
    summary = pipeline.summarize(path, model)
    out = pipeline.write_outputs(summary, pipeline.output_paths(path, tmp_path))["video"]
    info = decode.probe(out)
    frames = sum(1 for _ in decode._frames(decode._open(out), out, info))
    assert frames == summary.summary.sum()
    assert info.fps == 30
    assert info.duration == pytest.approx(summary.summary.sum() / 30, abs=1 / 30)
    assert summary.summary_seconds == pytest.approx(summary.summary.sum() / 30)
    times = summary.shot_times()
    assert (times[:, 1] - times[:, 0]).sum() == pytest.approx(summary.summary_seconds)


def test_googlenet_with_random_weights_gives_1024_d_pool5_features(video):
    network = googlenet_pool5(weights=None)
    # torchvision's GoogLeNet without its auxiliary heads has 6,624,904 parameters, of which the
    # classifier holds 1024 * 1000 + 1000: the same layers, so its weights load by name.
    assert sum(p.numel() for p in network.parameters()) == 6_624_904 - 1_025_000
    assert "inception5b.branch4.1.conv.weight" in network.state_dict()
    path, record = video
    extractor = features.make_extractor("googlenet", weights=None)
    got, decoded = features.extract(decode.probe(path), extractor, batch_size=16)
    assert got.shape == (record.n_steps, FEATURE_DIM) and np.isfinite(got).all()
    # Random weights shrink the activations, but frames that differ still differ.
    assert got.std(axis=0).mean() > 1e-2 * np.abs(got).mean()


def test_fallback_features_are_refused_by_a_model_trained_on_googlenet_features(video, tmp_path):
    path, _ = video
    job = tmp_path / "job"
    config = sum_gan_sl_config("smoke", verbose=False)
    model = sl.build_sum_gan_sl(config, 0)
    (job / "checkpoint").mkdir(parents=True)
    save_checkpoint(job / "checkpoint" / "run.pt", {"model": model}, History())
    (job / "config.json").write_text(json.dumps({
        "model": "sum-gan-sl", "method": "SUM-GAN-sl", "dataset": "summe", "tier": "smoke",
        "split": 0, "seed": 0, "config": asdict(config)}))
    loaded = summarizers.load_summarizer(job)
    assert loaded.trained_on == "summe" and loaded.features == "googlenet"
    with pytest.raises(VideoError, match="--features googlenet"):
        pipeline.summarize(path, loaded, features="fallback")
    assert main([str(path), "--model", str(job), "--features", "fallback",
                 "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_notebook_checkpoint_loads_by_its_tensors_and_scores_like_the_model(video, tmp_path):
    path, record = video
    config = sum_gan_sl_config("smoke", verbose=False)
    model = sl.build_sum_gan_sl(config, 3)
    file = tmp_path / "04-sum-gan-sl-smoke-0123abcd.pt"
    save_checkpoint(file, {"model": model}, History())
    loaded = summarizers.load_summarizer(file)
    assert loaded.trained_on == "synthetic" and type(loaded.model) is type(model)
    scores = summarizers.score(loaded, record.features)
    direct = summarizers.score(summarizers.from_model(model), record.features)
    assert np.array_equal(scores, direct)


def test_cli_summarizes_a_folder_into_one_h5_with_a_group_per_video(video, tmp_path, capsys):
    path, record = video
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(path.read_bytes())
    write_frames(folder / "b.mp4", np.random.default_rng(0).integers(
        0, 255, (40, 48, 64, 3), dtype=np.uint8))
    (folder / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    assert main([str(folder), "--h5-only", "--features", "fallback", "--out", str(out)]) == 0
    data = sm.read_h5(out / "mine.h5")
    assert data.keys() == ["video_1", "video_2"]
    assert [r.video_name for r in data] == ["a.mp4", "b.mp4"]
    assert data["video_1"].n_frames == record.n_frames and data["video_2"].n_frames == 40
    assert main([str(folder), "--h5-only", "--features", "fallback", "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main([str(folder), "--h5-only", "--features", "fallback", "--out", str(out),
                 "--overwrite"]) == 0


def test_a_bad_file_is_said_before_the_features_banner_and_clashing_names_are_named(
        video, tmp_path, capsys):
    path, _ = video
    assert main([str(tmp_path / "nothere.mp4"), "--h5-only", "--features", "fallback"]) == 1
    said = capsys.readouterr()
    assert "nothere.mp4 does not exist" in said.err
    assert "fallback features" not in said.out + said.err
    folder = tmp_path / "clash"
    folder.mkdir()
    for name in ("a.mp4", "a.MOV"):
        (folder / name).write_bytes(path.read_bytes())
    assert main([str(folder), "--h5-only", "--features", "fallback", "--out",
                 str(tmp_path / "out")]) == 1
    assert "a.MOV and a.mp4 have the same name before their suffix" in capsys.readouterr().err


def test_the_cli_reads_every_video_before_it_writes_and_a_stopped_run_leaves_nothing(
        video, tmp_path, monkeypatch, capsys):
    """A bad file late in a folder stops the run before any output exists; Ctrl-C while it
    writes leaves no output, its new folders removed, so the same command starts again, and under
    --overwrite leaves every old output as it was; a budget that is no share of a video is
    refused before any video is read."""
    path, _ = video
    model_file = tmp_path / "04-sum-gan-sl-smoke-0123abcd.pt"
    save_checkpoint(model_file, {"model": sl.build_sum_gan_sl(
        sum_gan_sl_config("smoke", verbose=False), 0)}, History())
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(path.read_bytes())
    (folder / "z.mp4").write_text("not a video")  # read last
    out = tmp_path / "out" / "deeper"
    argv = [str(folder), "--model", str(model_file), "--out", str(out)]
    assert main(argv) == 1
    assert "z.mp4 is not a video" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    (folder / "z.mp4").unlink()
    save_figure = outputs.save_figure

    def ctrl_c(*args, **kwargs):  # once the summary video is written
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "save_figure", ctrl_c)
    assert main(argv) == 130
    assert "no output was written or replaced" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(outputs, "save_figure", save_figure)
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["a_scores.png", "a_storyboard.png", "a_summary.mp4", "mine.h5"]
    monkeypatch.setattr(outputs, "save_figure", ctrl_c)  # the new summary video is written
    assert main([*argv, "--overwrite", "--budget", "0.3"]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # every old one kept
    monkeypatch.setattr(outputs, "save_figure", save_figure)
    (out / "a_scores.png").unlink()
    (out / "a_scores.png").mkdir()  # --overwrite replaces files, not a folder in their place
    assert main([*argv, "--overwrite"]) == 1
    assert "a_scores.png: a folder where an output file would go" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no temporary file left
    (out / "a_scores.png").rmdir()
    read = []
    monkeypatch.setattr(pipeline, "analyse", lambda *args, **kwargs: read.append(args))
    assert main([*argv, "--overwrite", "--budget", "1.5"]) == 1
    assert "got 1.5" in capsys.readouterr().err and read == []
    assert main([*argv, "--overwrite", "--features", "fallback", "--random-weights"]) == 1
    assert "--random-weights draws GoogLeNet's weights" in capsys.readouterr().err and read == []


@pytest.mark.parametrize("content", [b"", b'{"not": "a checkpoint"}'])
def test_a_model_file_that_is_no_checkpoint_is_named_without_advice_to_delete_it(content,
                                                                                  tmp_path):
    """Training's fix for a damaged checkpoint is to delete it; here it is a file the user gave
    by mistake, so the message names what --model takes instead."""
    given = tmp_path / "mine.json"
    given.write_bytes(content)
    with pytest.raises(VideoError, match=r"--model .*mine\.json .*give a checkpoint the course "
                                         r"saved") as refused:
        summarizers.load_summarizer(given)
    assert "delete" not in str(refused.value)
    assert "damaged or truncated" not in str(refused.value)  # it was never a checkpoint


def test_the_h5_of_your_videos_trains_a_model_of_the_family(video, tmp_path):
    path, _ = video
    extractor = features.make_extractor("fallback")
    records = [pipeline.analyse(path, extractor, key=f"video_{i}").record for i in (1, 2, 3)]
    file = outputs.write_h5(records, tmp_path / "mine.h5")
    data = sm.read_h5(file)
    rng = np.random.default_rng(1)
    data.videos = {k: replace(r, user_summary=rng.random((2, r.n_frames)) < 0.15)
                   for k, r in data.videos.items()}  # annotations of your own, made up here
    config = replace(sum_gan_sl_config("smoke", verbose=False), epochs=1)
    run = sl.fit_sum_gan_sl(sl.build_sum_gan_sl(config, 0), config, data,
                            sm.Split(("video_1", "video_2"), ("video_3",)), checkpoint=False,
                            live=False)
    assert len(run.history.evals["f_score"]) == 2


# ---------------------------------------------------------------- training on your own videos

RUN_OWN = ["run", "sum-gan-sl-fast", "--splits", "0", "--seeds", "0", "--tier", "smoke"]


@pytest.fixture(scope="module")
def own_h5(video, tmp_path_factory):
    """The h5 file course-summarize writes for a folder of three videos (fallback features, so
    nothing is downloaded): features, shots and picks, no annotations."""
    path, _ = video
    folder = tmp_path_factory.mktemp("own") / "my_videos"
    folder.mkdir()
    for name in "abc":
        (folder / f"{name}.mp4").write_bytes(path.read_bytes())
    out = folder.parent / "h5"
    assert main([str(folder), "--h5-only", "--features", "fallback", "--out", str(out)]) == 0
    return out / "my_videos.h5"


def test_the_runner_trains_on_your_own_h5_without_f_scores_and_the_model_summarizes(
        own_h5, video, tmp_path, capsys):
    from course_lib import experiments as ex
    from course_lib.experiments_cli import main as experiments

    out = tmp_path / "results"
    assert experiments([*RUN_OWN, "--dataset", str(own_h5), "--out", str(out)]) == 0
    assert "No F-score" in capsys.readouterr().out
    [result] = ex.load_results(out)
    assert result.finished and result.folder.parent.parent.parent.name == "my_videos"
    assert result.job.dataset == str(own_h5.resolve())
    assert np.isnan(result.f_scores).all() and "no annotations" in result.note
    spread = result.test_metrics["score_spread"]
    assert len(spread) == len(result.epochs) >= 2 and np.isfinite(spread).all()
    assert experiments(["report", "--out", str(out), "--splits", "0"]) == 0
    report = (out / "my_videos" / "smoke" / "comparison.md").read_text()
    assert "| sum-gan-sl-fast | 1 of 1 |" in report and "No F-score" in report
    assert "no annotations" in report
    assert not (out / "my_videos" / "smoke" / "f_per_epoch.png").exists()  # nothing to draw
    # the trained model summarizes a video, reading the features its h5 file recorded
    summaries = tmp_path / "summaries"
    assert main([str(video[0]), "--model", str(result.folder), "--out", str(summaries)]) == 0
    assert (summaries / "clip_summary.mp4").stat().st_size > 0
    assert summarizers.load_summarizer(result.folder).features == "fallback"


def test_the_runner_trains_on_your_own_h5_as_a_command(own_h5, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "course_lib.experiments_cli", *RUN_OWN,
                           "--dataset", str(own_h5), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "No F-score" in done.stdout
    finished = list((out / "my_videos" / "smoke").glob("*/split0-seed0/result.json"))
    assert len(finished) == 1 and "no annotations" in json.loads(finished[0].read_text())["note"]
    own_h5.rename(moved := tmp_path / "moved.h5")  # the report still writes, saying why
    done = subprocess.run([sys.executable, "-m", "course_lib.experiments_cli", "report",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    moved.rename(own_h5)
    assert done.returncode == 0, done.stderr
    assert f"No baselines: The dataset {own_h5} does not exist" in done.stdout


def _without_features(tmp_path, own_h5):
    data = sm.read_h5(own_h5)
    data.videos = {k: replace(r, features=None) for k, r in data.videos.items()}
    return sm.write_h5(data, tmp_path / "bare.h5")


def _without_shots(tmp_path, own_h5):
    data = sm.read_h5(own_h5)
    data.videos = {k: replace(r, change_points=None, n_frame_per_seg=None)
                   for k, r in data.videos.items()}
    return sm.write_h5(data, tmp_path / "shotless.h5")


def _two_videos(tmp_path, own_h5):
    data = sm.read_h5(own_h5)
    data.videos = {k: data.videos[k] for k in ("video_1", "video_2")}
    return sm.write_h5(data, tmp_path / "two.h5")


def _no_groups(tmp_path, own_h5):
    import h5py

    with h5py.File(tmp_path / "flat.h5", "w") as handle:
        handle["features"] = np.zeros((4, 8), np.float32)
    return tmp_path / "flat.h5"


BAD_DATASETS = {
    "missing": (lambda tmp, h5: tmp / "nowhere.h5", "does not exist"),
    "a folder": (lambda tmp, h5: tmp, "is a folder"),
    "unknown name": (lambda tmp, h5: "sume", "Unknown dataset"),
    "not an h5 file": (lambda tmp, h5: (tmp / "x.h5").write_text("hello") and tmp / "x.h5",
                       "not a readable HDF5 file"),
    "another layout": (_no_groups, "eccv16 layout"),
    "no features": (_without_features, "has no features"),
    "too few videos": (_two_videos, "at least 3"),
    "no shots": (_without_shots, "has no shots ('change_points') in video_1"),
}


@pytest.mark.parametrize("case", BAD_DATASETS)
def test_a_bad_dataset_file_gets_one_clear_message(case, own_h5, tmp_path, capsys):
    from course_lib.experiments_cli import main as experiments

    make, fragment = BAD_DATASETS[case]
    out = tmp_path / "results"
    assert experiments([*RUN_OWN, "--dataset", str(make(tmp_path, own_h5)), "--out",
                        str(out)]) == 1
    error = capsys.readouterr().err
    assert fragment in error and "Traceback" not in error, error
    assert "course-summarize" in error or case == "unknown name"
    assert not out.exists()


# ---------------------------------------------------------------- bad input


def _truncated(tmp_path, video):
    data = video[0].read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])
    return tmp_path / "cut.mp4"


def test_a_videos_length_is_its_pictures_when_the_sound_runs_on(tmp_path):
    """Phones and editors often leave the sound a little longer than the picture: the length
    (which notebook 07 turns into frame indices) is the video stream's, not the file's."""
    import av

    path = write_frames(tmp_path / "clip.mp4", np.zeros((30, 32, 32, 3), np.uint8))
    with av.open(str(path.with_name("sound.mp4")), "w") as container:
        picture, sound = container.add_stream("libx264", rate=30), container.add_stream("aac",
                                                                                        rate=8000)
        picture.height = picture.width = 32
        picture.pix_fmt = "yuv420p"
        for _ in range(30):  # 1 s of picture
            container.mux(picture.encode(av.VideoFrame.from_ndarray(
                np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        container.mux(picture.encode())
        for i in range(24):  # 3 s of sound
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 8000, 1024 * i
            container.mux(sound.encode(frame))
        container.mux(sound.encode())
    info = decode.probe(path.with_name("sound.mp4"))
    assert info.has_audio and info.duration == pytest.approx(1.0, abs=0.05)
    assert decode.probe(path).duration == pytest.approx(1.0, abs=0.05)


def _audio_only(tmp_path, video):
    import av

    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), np.float32)
        for _ in range(8):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 8000
            container.mux(stream.encode(frame))
        container.start_encoding()  # the header, even without frames
        container.mux(stream.encode())
    return path


def _empty_stream(tmp_path, video):
    return write_frames(tmp_path / "empty.mkv", np.zeros((0, 32, 32, 3), np.uint8))


def _too_short(tmp_path, video):
    return write_frames(tmp_path / "short.mp4", np.zeros((10, 32, 32, 3), np.uint8))


def _variable_rate(tmp_path, video):
    pts = np.cumsum([0] + [33] * 20 + [400] + [33] * 40)  # a 0.4 s gap in the middle
    frames = np.random.default_rng(0).integers(0, 255, (len(pts), 32, 32, 3), dtype=np.uint8)
    return write_frames(tmp_path / "vfr.mkv", frames, pts=pts)


BAD_VIDEOS = {
    "not a video": (lambda tmp, v: (tmp / "a.mp4").write_text("hello") and tmp / "a.mp4",
                    "not a video"),
    "missing": (lambda tmp, v: tmp / "nowhere.mp4", "does not exist"),
    "truncated": (_truncated, "truncated"),
    "no video stream": (_audio_only, r"no video stream \(its streams: audio\)"),
    "zero frames": (_empty_stream, "no frames"),
    "shorter than one sampled frame": (_too_short, "too short"),
    "variable frame rate": (_variable_rate, "variable frame rate"),
}


@pytest.mark.parametrize("case", BAD_VIDEOS)
def test_bad_video_gets_one_clear_error_and_no_output(case, video, model, tmp_path):
    make, fragment = BAD_VIDEOS[case]
    path = make(tmp_path, video)
    out = tmp_path / "out"
    with pytest.raises(VideoError, match=fragment):
        summary = pipeline.summarize(path, model)
        pipeline.write_outputs(summary, pipeline.output_paths(path, out))
    assert not out.exists()


def test_portrait_and_rotated_videos_keep_their_shape(model, tmp_path):
    frames = np.zeros((40, 96, 48, 3), np.uint8)  # portrait: 48 wide, 96 high
    frames[:, :48] = 255  # top half white
    portrait = decode.probe(write_frames(tmp_path / "p.mp4", frames))
    assert (portrait.width, portrait.height, portrait.portrait) == (48, 96, True)
    # A phone stores a portrait video sideways (here turned a quarter counterclockwise, white
    # half on the left) with a display matrix that tells players to turn it back: a tag of -90
    # degrees counterclockwise, which FFmpeg's players show turned 90 degrees clockwise.
    stored = frames.transpose(0, 2, 1, 3)[:, ::-1]
    assert stored.shape[1:3] == (48, 96) and stored[0, :, :48].min() == 255
    turned = decode.probe(write_frames(tmp_path / "r.mp4", stored, rotation=-90))
    assert turned.rotation == 90 and turned.portrait
    first = next(decode.iter_samples(turned)).frame
    assert first.shape[:2] == (96, 48)
    assert first[:40].mean() > 200 and first[56:].mean() < 50  # upright: white half on top


def test_a_video_too_large_to_embed_is_named_with_where_to_open_it(video, monkeypatch):
    path, _ = video
    page = outputs.videos_html({"original": path})
    assert "data:video/mp4;base64," in page and "<video" in page
    monkeypatch.setattr(outputs, "EMBED_LIMIT", path.stat().st_size - 1)
    page = outputs.videos_html({"original": path})
    assert "<video" not in page and "too large to embed" in page and str(path) in page


def test_a_4k_videos_summary_is_scaled_to_full_hd_with_even_sides():
    assert outputs.even_size(3840, 2160) == (1920, 1080)
    assert outputs.even_size(2160, 3840) == (1080, 1920)
    assert outputs.even_size(641, 359) == (640, 358)


def test_outputs_are_never_half_written_and_exist_only_with_overwrite(video, model, tmp_path,
                                                                      monkeypatch):
    path, _ = video
    summary = pipeline.summarize(path, model)
    paths = pipeline.output_paths(path, tmp_path / "out")
    real_write = outputs.VideoWriter.write
    calls = []

    def failing(self, image):
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt
        real_write(self, image)

    monkeypatch.setattr(outputs.VideoWriter, "write", failing)
    with pytest.raises(KeyboardInterrupt):
        pipeline.write_outputs(summary, paths)
    assert list((tmp_path / "out").iterdir()) == []  # neither the video nor its temporary file
    monkeypatch.undo()
    pipeline.write_outputs(summary, paths)
    with pytest.raises(VideoError, match="--overwrite"):
        pipeline.write_outputs(summary, paths)
    pipeline.write_outputs(summary, paths, overwrite=True)


def test_unwritable_output_folder_and_foreign_checkpoints_are_refused(video, model, tmp_path):
    path, _ = video
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VideoError, match="is a file"):
        outputs.check_outputs([blocker / "a.h5"])
    with pytest.raises(VideoError, match="cannot be written"):
        outputs.check_outputs([blocker / "sub" / "a.h5"])
    foreign = tmp_path / "other.pt"
    wide = sl.build_sum_gan_sl(replace(sum_gan_sl_config("smoke", verbose=False),
                                       feature_dim=512), 0)
    save_checkpoint(foreign, {"model": wide}, History())
    with pytest.raises(VideoError, match="fits none"):
        summarizers.load_summarizer(foreign)
    with pytest.raises(VideoError, match="512-d"):
        summarizers.check_features(summarizers.from_model(wide), "fallback", 1024)
    digits = summarizers.from_model(model.model, trained_on="synthetic-digits")
    for kind in ("fallback", "googlenet"):  # no extractor of a real video shows the digit
        with pytest.raises(VideoError, match="no extractor of a real video gives them"):
            summarizers.check_features(digits, kind, 1024)
    with pytest.raises(VideoError, match="budget"):
        pipeline.summarize(path, model, budget=15)


def test_empty_summary_is_refused_with_the_budget_that_would_work(video, model):
    path, _ = video
    with pytest.raises(VideoError, match="larger --budget"):
        pipeline.summarize(path, model, budget=0.001)


def test_the_benchmark_times_batched_and_single_frame_features_on_the_same_frames(capsys):
    import bench_summarize

    result = bench_summarize.main(["--seconds", "6", "--batch", "4"])
    out = capsys.readouterr().out
    assert result["frames"] == 12 and min(result["batched"], result["single"], result["plain"]) > 0
    assert "frames/s" in out and "batched" in out and "plain" in out and "whole pipeline" in out


def test_folded_batch_norms_and_one_worker_per_core_give_the_networks_features():
    import copy

    import torch

    from course_lib.video.googlenet import fold_batch_norm, preprocess

    torch.manual_seed(0)
    network = googlenet_pool5(weights=None)
    for module in network.modules():  # statistics of a trained network, not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2), module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5), module.bias.data.uniform_(-0.2, 0.2)
    frames = np.random.default_rng(0).integers(0, 255, (5, 96, 96, 3), dtype=np.uint8)
    with torch.inference_mode():
        images = preprocess(torch.from_numpy(frames))
        expected = network(images).numpy()
        folded = fold_batch_norm(copy.deepcopy(network))(images).numpy()
    assert np.abs(folded - expected).max() < 1e-4 * np.abs(expected).max()
    # the workers' parts of a batch come back in order, and PyTorch's threads are as they were
    threads = torch.get_num_threads()
    extractor = features.make_extractor("googlenet", weights=None)
    together = extractor.batch(frames, None)
    alone = np.concatenate([extractor.batch(frame[None], None) for frame in frames])
    assert np.abs(together - alone).max() < 1e-4 * np.abs(alone).max()
    assert torch.get_num_threads() == threads


def test_long_shots_are_cut_into_equal_parts_that_cover_the_video():
    cut = pipeline.split_long_shots(np.array([[0, 9], [10, 309], [310, 319]]), 100)
    assert np.array_equal(cut, [[0, 9], [10, 109], [110, 209], [210, 309], [310, 319]])
    assert pipeline.max_shot_frames(9000, 30) == 150 and pipeline.max_shot_frames(300, 30) == 30


def test_googlenet_weights_that_cannot_be_fetched_name_the_fallback(monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torch.hub.load_state_dict_from_url", offline)
    with pytest.raises(VideoError, match="--features fallback"):
        features.make_extractor("googlenet")


def test_a_family_name_finds_the_notebooks_main_run_not_its_other_runs(video, tmp_path,
                                                                       monkeypatch, capsys):
    """Notebooks 04, 05 and 07 save more runs of -sl beside the main one, under the same prefix
    (seeds, the faithful trainer, the improved model): the newest of them is not the model."""
    from course_lib.data.synthetic_videos import synthetic_benchmark

    path, _ = video
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("COURSE_TIER", "smoke")
    with pytest.raises(VideoError, match="run notebook 04"):
        summarizers.load_summarizer("sum-gan-sl")
    config = sum_gan_sl_config("smoke", verbose=False)
    data, splits = synthetic_benchmark("smoke")
    main_run = sl.fit_sum_gan_sl(sl.build_sum_gan_sl(config, 0), config, data,
                                 splits[config.split], seed=0, live=False)
    for variant, seed in ((config, 1), (replace(config, dpp_weight=1.0), 0)):  # saved later
        sl.fit_sum_gan_sl(sl.build_sum_gan_sl(variant, seed), variant, data,
                          splits[config.split], seed=seed, live=False)
    files = sorted((tmp_path / "checkpoints").glob("04-sum-gan-sl-smoke-*.pt"),
                   key=lambda f: f.stat().st_mtime)
    found = summarizers.main_run_checkpoint("sum-gan-sl")
    assert len(files) == 3 and found == files[0] != files[-1]
    loaded = summarizers.load_summarizer("sum-gan-sl").model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in main_run.model.state_dict().items())
    with pytest.raises(VideoError, match="--trained-on 'SumMe': a notebook trains on one of"):
        summarizers.load_summarizer("sum-gan-sl", trained_on="SumMe")
    assert main([str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "SUM-GAN-sl (smoke tier)" in out and str(found) in out
    assert (tmp_path / "out" / "clip_summary.mp4").is_file()

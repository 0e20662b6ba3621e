"""One training step of the composite LSTM autoencoder: the course's implementation vs a step loop.

Every variant trains the same model (conditional reconstruction and future decoders; 10 input,
10 reconstructed and 10 future frames) with Adam, measured in the same run:

1. step loop (baseline): each decoder is a Python loop of one-step calls fed with its own previous
   output, on PyTorch's defaults (oneDNN LSTM on a CPU, for-loop Adam), as tutorials write it;
2. fused decoders: teacher forcing, so each decoder is one ``nn.LSTM`` call over the sequence;
3. + the course's CPU LSTM (``models/sequence_lstm.py``: each weight gradient in one matrix
   product for the whole sequence) instead of oneDNN's (``USE_ONEDNN_LSTM = False``);
4. + fused Adam (``fused=True``): the course's implementation;
5. + bfloat16 products (``matmul_dtype="bfloat16"``, on a CPU only): what the laptop tier trains
   with where the CPU multiplies bfloat16 in hardware (``config.cpu_matmul_dtype``).

Run:  python benchmarks/bench_fused_decoder.py            (the paper's size: 2x2048, batch 16)
      python benchmarks/bench_fused_decoder.py --hidden 512 --layers 1 --canvas 40 --threads 1
                                                        (notebook 01's laptop tier, one thread)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from course_lib.config import cpu_matmul_dtype
from course_lib.models import lstm_autoencoder
from course_lib.models.lstm_autoencoder import LSTMAutoencoder, count_parameters, split_sequence

VARIANTS = {  # name: (free-running decoders, oneDNN LSTM, fused Adam, bfloat16 products)
    "step loop (baseline)": (True, True, False, False),
    "fused decoders": (False, True, False, False),
    "+ whole-sequence backward": (False, False, False, False),
    "+ fused Adam (course)": (False, False, True, False),
    "+ bfloat16 products": (False, False, True, True),
}


def time_steps(model, frames, n_input, variant, repeats, warmup):
    free_running, onednn, fused_adam, bfloat16 = variant
    lstm_autoencoder.USE_ONEDNN_LSTM = onednn
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=fused_adam or None)
    inputs, future = split_sequence(frames, n_input)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            out = model(inputs, future, free_running=free_running)
            losses = model.losses(out, inputs, future)
        losses["total"].backward()
        optimizer.step()
        if frames.device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--canvas", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = LSTMAutoencoder(args.canvas**2, args.hidden, args.layers,
                            conditional_reconstruction=True, conditional_future=True).to(device)
    frames = torch.rand(args.batch, 20, args.canvas, args.canvas, device=device).round()
    print(f"Composite model {args.layers}x{args.hidden}, {args.canvas**2}-d frames, "
          f"{count_parameters(model):,} parameters, batch {args.batch}, device {device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    if device.type == "cpu":
        hardware = cpu_matmul_dtype() == "bfloat16"
        print("This CPU multiplies bfloat16 " + ("in hardware." if hardware else
              "by emulation: the laptop tier keeps float32 here."))

    medians = {}
    for name, variant in VARIANTS.items():
        if variant[3] and device.type != "cpu":
            continue  # the course multiplies in bfloat16 on a CPU only
        times = time_steps(model, frames, 10, variant, args.repeats, args.warmup)
        medians[name] = statistics.median(times)
        print(f"{name:>27}: median {medians[name]:.3f} s/step over {args.repeats} steps "
              f"(min {min(times):.3f}, max {max(times):.3f}); "
              f"{medians['step loop (baseline)'] / medians[name]:.2f}x the baseline")
    baseline, course = medians["step loop (baseline)"], medians["+ fused Adam (course)"]
    print(f"speed-up, course implementation vs the step loop: {baseline / course:.2f}x")
    if "+ bfloat16 products" in medians:
        print(f"bfloat16 products vs float32 (the course's): "
              f"{course / medians['+ bfloat16 products']:.2f}x")


if __name__ == "__main__":
    main()

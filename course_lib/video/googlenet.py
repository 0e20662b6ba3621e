"""GoogLeNet (Szegedy et al., "Going deeper with convolutions", CVPR 2015) up to pool5: the
1024-d features of the benchmark's eccv16 files, written for the course.

The module names of the layers are torchvision's, so torchvision's ImageNet weights
(``googlenet-1378be20.pth``) load into it unchanged. They are fetched by PyTorch itself
(:func:`torch.hub.load_state_dict_from_url`, which checks the file's SHA-256 prefix in its name)
on first use, into PyTorch's cache, on the user's machine: the test suite never downloads them
and builds the network with random weights instead. Written here rather than imported from
torchvision because torchvision's wheels must match PyTorch's build exactly (a CUDA build of one
does not load beside a CPU build of the other); this needs only PyTorch.

Those weights were trained with inputs in [-1, 1] per channel ((x/255 - 0.5) / 0.5, what
torchvision's ``transform_input`` turns ImageNet-normalised inputs into), so :func:`preprocess`
gives exactly that. The benchmark's own features came from a Caffe GoogLeNet: same architecture
and pool5, other weights, so these features are of the same kind, not identical numbers.
"""

from __future__ import annotations

import torch
from torch import nn

WEIGHTS_URL = "https://download.pytorch.org/models/googlenet-1378be20.pth"
INPUT_SIZE = 224
FEATURE_DIM = 1024
INCEPTIONS = {  # in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, "5x5" (3x3, as torchvision's), pool proj
    "inception3a": (192, 64, 96, 128, 16, 32, 32), "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64), "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(inputs, outputs, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(outputs, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four branches side by side, concatenated along the channels."""

    def __init__(self, inputs, ch1, ch3_reduce, ch3, ch5_reduce, ch5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(inputs, ch1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(inputs, ch3_reduce, 1),
                                     BasicConv2d(ch3_reduce, ch3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(inputs, ch5_reduce, 1),
                                     BasicConv2d(ch5_reduce, ch5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                     BasicConv2d(inputs, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNetPool5(nn.Module):
    """Images [B, 3, 224, 224] in [-1, 1] → pool5 features [B, 1024] (the global average of
    inception 5b; the classifier is left out)."""

    def __init__(self):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        for name, sizes in INCEPTIONS.items():
            setattr(self, name, Inception(*sizes))
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
            x = getattr(self, name)(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return x.mean(dim=(2, 3))


def fold_batch_norm(model: GoogLeNetPool5) -> GoogLeNetPool5:
    """The network for inference with each batch norm folded into the convolution before it (a
    scale per output channel and a bias): the same function, one pass over the activations fewer
    per layer. The module names of the weights are gone, so fold after loading them."""
    for module in model.modules():
        if isinstance(module, BasicConv2d) and isinstance(module.bn, nn.BatchNorm2d):
            conv, bn = module.conv, module.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                               conv.stride, conv.padding)
            folded.weight.data.copy_(conv.weight * scale[:, None, None, None])
            folded.bias.data.copy_(bn.bias - bn.running_mean * scale)
            module.conv, module.bn = folded, nn.Identity()
    return model.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] RGB → float [B, 3, H, W] in [-1, 1] (stored channels-last, as
    decoded)."""
    return images.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def googlenet_pool5(weights: str | None = "imagenet", *, progress: bool = True) -> GoogLeNetPool5:
    """The network in inference mode: ``weights="imagenet"`` downloads (once) and loads
    torchvision's ImageNet weights; ``None`` keeps random ones (tests, benchmarks: same time)."""
    model = GoogLeNetPool5()
    for module in model.modules():  # activations of a useful scale (tiny ones become denormal
        if isinstance(module, nn.Conv2d):  # numbers, on which a CPU is many times slower)
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if weights == "imagenet":
        state = torch.hub.load_state_dict_from_url(WEIGHTS_URL, progress=progress, check_hash=True,
                                                   map_location="cpu")
        state = {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2.", "fc."))}
        model.load_state_dict(state)
    elif weights is not None:
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}.")
    # Channels-last weights: oneDNN's convolutions on a CPU ran 1.6x faster with them (32 frames,
    # 2 cores), the same numbers; the images are channels-last already (see preprocess).
    return model.eval().requires_grad_(False).to(memory_format=torch.channels_last)

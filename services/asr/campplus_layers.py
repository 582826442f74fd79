"""Building blocks of the CAM++ speaker-embedding network (see ``services.asr.campplus``).

CAM++ is described in H. Wang et al., "CAM++: A Fast and Efficient Network for Speaker
Verification Using Context-Aware Masking", Interspeech 2023 (arXiv 2303.00332). The layout and
the attribute names follow the reference implementation in modelscope/3D-Speaker
(``speakerlab/models/campplus/``, Apache-2.0) because the published weights are a state dict
keyed by those names: every submodule below is named so that the checkpoint loads with
``strict=True``. The code itself is this project's; it is inference-oriented (no gradient
checkpointing, no training-only branches).

Shapes: ``B`` batch, ``C`` channels, ``F`` frequency bins, ``T`` frames.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# The CAM layer pools context over the whole utterance and over segments of this many frames
# (after the trunk's 2x time subsampling, 100 frames = 2 s), as in 3D-Speaker's CAMLayer.
CAM_SEGMENT_FRAMES = 100


def batchnorm_relu(channels: int) -> nn.Sequential:
    """BatchNorm1d then ReLU; named ``batchnorm``/``relu`` as in the checkpoint."""
    return nn.Sequential(
        OrderedDict([("batchnorm", nn.BatchNorm1d(channels)), ("relu", nn.ReLU(inplace=True))])
    )


# --------------------------------------------------------------------------------------------
# Front-end convolution module (FCM): a small 2-D ResNet over the (F, T) plane.
# --------------------------------------------------------------------------------------------


class ResidualBlock2d(nn.Module):
    """Basic 2-D residual block; ``stride`` subsamples frequency only (time is kept)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class FrontEndConv(nn.Module):
    """FCM head: (B, F, T) features -> (B, C * F / 8, T) sequence for the TDNN trunk.

    Three stride-2 stages along frequency reduce 80 bins to 10, each with ``channels`` maps,
    which are then flattened into the channel axis (32 * 10 = 320 for the published model).
    """

    def __init__(self, feat_dim: int = 80, channels: int = 32, blocks_per_stage: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = self._stage(channels, blocks_per_stage)
        self.layer2 = self._stage(channels, blocks_per_stage)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)

    @staticmethod
    def _stage(channels: int, num_blocks: int) -> nn.Sequential:
        strides = [2] + [1] * (num_blocks - 1)
        return nn.Sequential(*(ResidualBlock2d(channels, channels, s) for s in strides))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(feats.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        batch, channels, freq, frames = out.shape
        return out.reshape(batch, channels * freq, frames)


# --------------------------------------------------------------------------------------------
# D-TDNN trunk with context-aware masking.
# --------------------------------------------------------------------------------------------


class TDNNLayer(nn.Module):
    """1-D convolution ("same" padding) followed by BatchNorm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.linear = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            bias=False,
        )
        self.nonlinear = batchnorm_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.nonlinear(self.linear(x))
        return out


class ContextAwareMasking(nn.Module):
    """CAM: a local TDNN output scaled by a sigmoid mask computed from pooled context.

    The context is the utterance-level mean plus a segment-level mean (segments of
    ``CAM_SEGMENT_FRAMES`` frames, broadcast back to every frame of the segment), passed
    through a two-layer bottleneck (the paper's context-aware masking).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.linear_local = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size,
            padding=(kernel_size - 1) // 2 * dilation,
            dilation=dilation,
            bias=False,
        )
        self.linear1 = nn.Conv1d(in_channels, in_channels // 2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(in_channels // 2, out_channels, 1)
        self.sigmoid = nn.Sigmoid()

    @staticmethod
    def segment_mean(x: torch.Tensor, seg_len: int = CAM_SEGMENT_FRAMES) -> torch.Tensor:
        """Mean over consecutive ``seg_len``-frame segments, repeated back to length T."""
        frames = x.shape[-1]
        seg = F.avg_pool1d(x, kernel_size=seg_len, stride=seg_len, ceil_mode=True)
        return seg.repeat_interleave(seg_len, dim=-1)[..., :frames]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local: torch.Tensor = self.linear_local(x)
        context = x.mean(dim=-1, keepdim=True) + self.segment_mean(x)
        mask: torch.Tensor = self.sigmoid(self.linear2(self.relu(self.linear1(context))))
        return local * mask


class DenseTDNNLayer(nn.Module):
    """One D-TDNN layer: BN-ReLU, 1x1 bottleneck, BN-ReLU, CAM; returns ``growth`` channels."""

    def __init__(
        self,
        in_channels: int,
        growth: int,
        bottleneck: int,
        kernel_size: int,
        dilation: int,
    ) -> None:
        super().__init__()
        self.nonlinear1 = batchnorm_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bottleneck, 1, bias=False)
        self.nonlinear2 = batchnorm_relu(bottleneck)
        self.cam_layer = ContextAwareMasking(bottleneck, growth, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))
        return out


class DenseTDNNBlock(nn.Module):
    """Densely connected stack: each layer's output is concatenated to its input.

    Layers are registered as ``tdnnd1`` ... ``tdnndN`` (the checkpoint's names).
    """

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth: int,
        bottleneck: int,
        kernel_size: int,
        dilation: int,
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        for i in range(num_layers):
            layer = DenseTDNNLayer(in_channels + i * growth, growth, bottleneck, kernel_size, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)
        self.out_channels = in_channels + num_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class TransitLayer(nn.Module):
    """BN-ReLU then a 1x1 convolution that halves the channels between dense blocks."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = batchnorm_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(self.nonlinear(x))
        return out


class StatsPool(nn.Module):
    """Concatenated mean and (unbiased) standard deviation over time: (B, C, T) -> (B, 2C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)


class EmbeddingLayer(nn.Module):
    """Final affine projection with a non-affine BatchNorm (standardises each dimension)."""

    def __init__(self, in_channels: int, embedding_dim: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, embedding_dim, 1, bias=False)
        self.nonlinear = nn.Sequential(
            OrderedDict([("batchnorm", nn.BatchNorm1d(embedding_dim, affine=False))])
        )

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.nonlinear(self.linear(stats.unsqueeze(-1)).squeeze(-1))
        return out

"""A small 2-D U-Net for the lesion phantoms: one grey input channel, three per-class logits per pixel.

Two resolution levels below the input (64 -> 32 -> 16 pixels), base width 8 channels. The network holds no
intensity normalisation: the caller subtracts the mean and divides by the standard deviation stated in
``prepare.py`` (``NORMALIZE_MEAN``, ``NORMALIZE_STD``) before calling it, as the audit does with
``model.normalize``. Output channels: 0 background, 1 oedema/rim, 2 enhancing core.
"""

from __future__ import annotations

import torch
from torch import nn

#: Output channels: background, oedema/rim, enhancing core.
CLASSES = 3
#: Channels of the first level; each level below doubles them.
WIDTH = 8


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3×3 convolutions, each followed by batch normalisation and a ReLU.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels entering and leaving the block.

    Returns
    -------
    torch.nn.Sequential
        The block; it keeps the spatial size.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """A two-level U-Net returning per-class logits.

    Parameters
    ----------
    width : int
        Channels of the first level (the second has ``2 * width``, the bottleneck ``4 * width``).
    classes : int
        Output channels (per-class logits).
    """

    def __init__(self, width: int = WIDTH, classes: int = CLASSES) -> None:
        super().__init__()
        self.enc1 = _block(1, width)
        self.enc2 = _block(width, 2 * width)
        self.bottom = _block(2 * width, 4 * width)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = _block(4 * width, 2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec1 = _block(2 * width, width)
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-class logits.

        Parameters
        ----------
        x : torch.Tensor
            Normalised images, shape ``(batch, 1, H, W)`` with H and W divisible by 4.

        Returns
        -------
        torch.Tensor
            Logits, shape ``(batch, classes, H, W)``.
        """
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottom(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)


def build() -> UNet:
    """An untrained U-Net with the example's width and classes (load ``model.pt`` into it).

    Returns
    -------
    UNet
        The network, with freshly initialised weights.
    """
    return UNet()

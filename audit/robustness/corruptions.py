"""Image corruptions that fit medical scans, on N×C×H×W arrays in [0, 1].

Every corruption takes a severity in [0, 1] (0 = the image unchanged) and returns a new float32
array clipped to [0, 1]; randomness comes only from the generator passed in.

=============== ====================================================================================
name            what severity ``s`` does
=============== ====================================================================================
gaussian_noise  adds ``N(0, (s/2)^2)`` per pixel (acquisition noise, low dose)
blur            Gaussian blur with ``sigma = s · min(H, W) / 8`` pixels (motion, defocus, thick slices)
contrast        ``m + (1 − s)(x − m)``, ``m`` the image's mean (window/level, low contrast)
gamma           ``x ** (1 + 2s)`` (a different intensity response curve)
bias_field      multiplies by ``exp(s · g)``, ``g`` a random smooth field in [−1, 1] (MRI bias field, uneven illumination)
downsample      averages ``k × k`` pixel blocks and scales back up, ``k = 1 + round(s · (min(H, W)/2 − 1))`` (resolution loss)
jpeg            JPEG compression at quality ``round(95 − 90 s)`` (lossy storage, 1 or 3 channels only)
=============== ====================================================================================
"""

from __future__ import annotations

import io

import numpy as np
from scipy.ndimage import gaussian_filter

CORRUPTIONS = ("gaussian_noise", "blur", "contrast", "gamma", "bias_field", "downsample", "jpeg")


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0).astype(np.float32, copy=False)


def gaussian_noise(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _clip(x + rng.normal(0.0, s / 2.0, size=x.shape))


def blur(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    sigma = s * min(x.shape[2], x.shape[3]) / 8.0
    return _clip(gaussian_filter(x.astype(np.float64), sigma=(0, 0, sigma, sigma), mode="nearest"))


def contrast(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return _clip(mean + (1.0 - s) * (x - mean))


def gamma(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _clip(np.power(np.clip(x, 0.0, 1.0), 1.0 + 2.0 * s))


def bias_field(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    """A per-image random quadratic field ``g(u, v)`` scaled to [−1, 1]; the image times ``exp(s·g)``."""
    n, _, h, w = x.shape
    v, u = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    basis = np.stack([u, v, u * u, v * v, u * v])  # 5 × H × W
    coef = rng.normal(size=(n, basis.shape[0]))
    field = np.einsum("nk,khw->nhw", coef, basis)
    span = np.abs(field).max(axis=(1, 2), keepdims=True)
    field = field / np.where(span > 0, span, 1.0)
    return _clip(x * np.exp(s * field)[:, None])


def downsample(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    n, c, h, w = x.shape
    k = 1 + int(round(s * (min(h, w) / 2.0 - 1)))
    if k <= 1:
        return _clip(x.copy())
    ph, pw = -h % k, -w % k
    padded = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
    blocks = padded.reshape(n, c, (h + ph) // k, k, (w + pw) // k, k).mean(axis=(3, 5))
    up = np.repeat(np.repeat(blocks, k, axis=2), k, axis=3)
    return _clip(up[:, :, :h, :w])


def jpeg(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    quality = int(round(95 - 90 * s))
    out = np.empty_like(x, dtype=np.float32)
    for i in range(x.shape[0]):
        image = np.round(np.clip(x[i], 0, 1) * 255).astype(np.uint8)
        pil = Image.fromarray(image[0], mode="L") if x.shape[1] == 1 else Image.fromarray(image.transpose(1, 2, 0), mode="RGB")
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32) / 255.0
        out[i] = decoded[None] if x.shape[1] == 1 else decoded.transpose(2, 0, 1)
    return out


_FUNCTIONS = {
    "gaussian_noise": gaussian_noise, "blur": blur, "contrast": contrast, "gamma": gamma,
    "bias_field": bias_field, "downsample": downsample, "jpeg": jpeg,
}


def corrupt(x: np.ndarray, kind: str, severity: float, rng: np.random.Generator) -> np.ndarray:
    """Apply corruption ``kind`` at ``severity``; severity 0 returns an unchanged copy."""
    if kind not in _FUNCTIONS:
        raise ValueError(f"unknown image corruption {kind!r}")
    if severity == 0:
        return np.array(x, dtype=np.float32, copy=True)
    return _FUNCTIONS[kind](np.asarray(x, dtype=np.float32), float(severity), rng)


def applicable(x: np.ndarray, kind: str) -> str | None:
    """``None`` when ``kind`` can be applied to these images, else the reason it cannot."""
    if kind == "jpeg" and x.shape[1] not in (1, 3):
        return f"JPEG needs 1 (grey) or 3 (RGB) channels, but the images have {x.shape[1]}"
    return None

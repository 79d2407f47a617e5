"""Generate the lesion-phantom segmentation example: synthetic 2-D MR-like slices from two sites, a small U-Net
trained on site A, and its predictions on an internal (site A) and an external (site B) test set.

Nothing is downloaded: every image is drawn from a seeded random generator. Each 64×64 slice (0.8 mm pixels)
shows a head (scalp, brain with smooth intensity variation, two dark ventricles) and 0 to 3 lesions, each an
enhancing core (label 2) inside a rim of oedema (label 1), of radius 1.5 to 10 pixels and varied contrast
(fainter in older patients). Site A has two scanner vendors; site B stores other intensities, shows the
lesions with less contrast, is noisier and has a smooth bias field. Writes into ``--out``:

- ``model.pt``                          the trained U-Net's state dict (``unet.py:build``)
- ``internal.csv``, ``external.csv``    one row per test case: attributes and relative file paths
- ``images/<case>.nii.gz``              raw (un-normalised) float32 intensities
- ``masks/<case>.nii.gz``               reference labels (uint8: 0 background, 1 oedema/rim, 2 enhancing core)
- ``predictions/<case>.nii.gz``         the U-Net's label map (uint8, argmax of the probabilities)
- ``probabilities/<case>.npy``          float32 softmax, channels first, shape (3, 64, 64)

The network sees ``(image - NORMALIZE_MEAN) / NORMALIZE_STD``; the stored images and the model do not include
this normalisation (the audit applies ``model.normalize`` itself).

Run: ``python examples/lesion_phantoms/prepare.py [--out DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import time
from dataclasses import dataclass, replace
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

HERE = Path(__file__).resolve().parent
_UNET = importlib.util.spec_from_file_location("lesion_phantoms_unet", HERE / "unet.py")
unet = importlib.util.module_from_spec(_UNET)
_UNET.loader.exec_module(unet)

SIZE = 64
SPACING_MM = 0.8
AFFINE = np.diag([SPACING_MM, SPACING_MM, 1.0, 1.0])
#: Fixed intensity normalisation of the network's input: (raw - mean) / std.
NORMALIZE_MEAN = 230.0
NORMALIZE_STD = 200.0

N_TRAIN = 300
N_TEST = {"A": 80, "B": 60}
SITE_NAMES = {"A": "internal", "B": "external"}
#: Share of patients scanned twice (two time points), and of patients without any lesion.
REPEAT_SHARE = 0.25
LESION_FREE_SHARE = 0.10
LESION_COUNTS = (1, 2, 3)
LESION_COUNT_P = (0.45, 0.35, 0.20)
RADIUS_PX = (1.5, 10.0)
#: Core radius as a share of the lesion radius, and rim contrast as a share of the core's.
CORE_SHARE = 0.55
RIM_CONTRAST = 0.6
CONTRAST = (0.2, 1.0)
AGE_GROUPS = ("<50", "50-70", ">70")
AGE_P = (0.3, 0.4, 0.3)
#: Lesion contrast by age group: a real, modest subgroup difference.
AGE_CONTRAST = {"<50": 1.0, "50-70": 0.93, ">70": 0.85}

#: One intra-op thread: on the two-core machine this was written on, two threads trained no faster (40 s against
#: 43 s) and were several times slower per batch whenever another process was busy; the thread count is fixed
#: because it changes the trained weights slightly.
THREADS = 1
EPOCHS = 24
BATCH = 8
LEARNING_RATE = 3e-3
#: Training augmentation: each image's intensities multiplied by a gain drawn from 1 ± GAIN.
GAIN = 0.15
COLUMNS = ("case_id", "patient", "site", "sex", "age_group", "scanner", "image", "mask", "prediction", "probabilities")


@dataclass(frozen=True)
class Acquisition:
    """How a scanner turns the phantom's relative tissue values into stored intensities.

    Attributes
    ----------
    scale : float
        Stored value of normal brain tissue (relative value 1).
    contrast : float
        Multiplier of the lesions' contrast.
    noise : float
        Standard deviation of the complex Gaussian noise, relative to ``scale`` (magnitude images: Rician).
    bias : float
        Amplitude of the smooth multiplicative bias field (0: none).
    """

    scale: float
    contrast: float
    noise: float
    bias: float


#: Scanners by site: two vendors at site A, one at site B (which is the acquisition shift).
SCANNERS = {
    "A": {"vendor_x": Acquisition(400.0, 1.0, 0.06, 0.0), "vendor_y": Acquisition(450.0, 0.95, 0.07, 0.05)},
    "B": {"vendor_z": Acquisition(320.0, 0.8, 0.10, 0.2)},
}


@dataclass(frozen=True)
class Lesion:
    """One lesion: an ellipse with a wobbly border, its core a smaller copy of it.

    Attributes
    ----------
    centre : numpy.ndarray
        Row and column of the centre (pixels).
    radius : float
        Geometric-mean radius (pixels); the half-axes are ``radius * aspect`` and ``radius / aspect``.
    aspect : float
        Elongation of the ellipse.
    angle : float
        Orientation (radians).
    wobble : numpy.ndarray
        Smooth field perturbing the normalised distance, so the border is irregular.
    contrast : float
        Core intensity above tissue, relative to tissue.
    """

    centre: np.ndarray
    radius: float
    aspect: float
    angle: float
    wobble: np.ndarray
    contrast: float


@dataclass(frozen=True)
class Patient:
    """A patient's attributes, anatomy and lesions (shared by the patient's time points).

    Attributes
    ----------
    patient : str
        Patient identifier.
    sex, age_group, scanner : str
        Case-table attributes.
    tissue : numpy.ndarray
        Relative intensities of the lesion-free head.
    lesions : tuple of Lesion
        Lesions at the first time point.
    """

    patient: str
    sex: str
    age_group: str
    scanner: str
    tissue: np.ndarray
    lesions: tuple[Lesion, ...]


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates of every pixel."""
    return np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)


def smooth_field(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Smoothed white noise scaled to unit standard deviation.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    sigma : float
        Gaussian smoothing width (pixels).

    Returns
    -------
    numpy.ndarray
        A ``(SIZE, SIZE)`` field with mean 0 and standard deviation 1.
    """
    field = ndimage.gaussian_filter(rng.standard_normal((SIZE, SIZE)), sigma, mode="reflect")
    return (field - field.mean()) / field.std()


def ellipse_distance(centre: np.ndarray, half_axes: tuple[float, float], angle: float) -> np.ndarray:
    """Normalised elliptic distance of every pixel from ``centre`` (1 on the ellipse's border).

    Parameters
    ----------
    centre : numpy.ndarray
        Row and column of the centre.
    half_axes : tuple of float
        Half-axes along the rotated row and column directions.
    angle : float
        Rotation (radians).

    Returns
    -------
    numpy.ndarray
        ``(SIZE, SIZE)`` distances.
    """
    rows, cols = _grid()
    dr, dc = rows - centre[0], cols - centre[1]
    u = np.cos(angle) * dr + np.sin(angle) * dc
    v = -np.sin(angle) * dr + np.cos(angle) * dc
    return np.sqrt((u / half_axes[0]) ** 2 + (v / half_axes[1]) ** 2)


def head(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A lesion-free head: scalp ring, brain with smooth intensity variation, two dark ventricles.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    tissue : numpy.ndarray
        Relative intensities (brain about 1, scalp 0.8, ventricles 0.35, air 0).
    allowed : numpy.ndarray
        Distance (pixels) of each pixel from the nearest non-brain or ventricle pixel: where lesions may sit.
    """
    centre = SIZE / 2 - 0.5 + rng.normal(0, 1.0, 2)
    axes = (rng.uniform(24, 27), rng.uniform(20, 24))
    angle = rng.uniform(-0.3, 0.3)
    brain = ellipse_distance(centre, axes, angle) < 1
    scalp = (ellipse_distance(centre, (axes[0] + 4, axes[1] + 4), angle) < 1) & (
        ellipse_distance(centre, (axes[0] + 2, axes[1] + 2), angle) >= 1)
    ventricles = np.zeros_like(brain)
    for side in (-1, 1):
        offset = np.array([rng.uniform(-3, 0), side * rng.uniform(3, 4.5)])
        ventricles |= ellipse_distance(centre + offset, (rng.uniform(5, 8), rng.uniform(1.5, 2.5)), angle) < 1
    tissue = np.where(brain, 1.0 + 0.08 * smooth_field(rng, 4.0), 0.0)
    tissue[scalp] = 0.8
    tissue[ventricles] = 0.35
    allowed = ndimage.distance_transform_edt(brain & ~ventricles)
    return tissue, allowed


def draw_lesions(rng: np.random.Generator, allowed: np.ndarray, count: int, contrast_factor: float) -> tuple[Lesion, ...]:
    """Lesions of log-uniform radius and uniform contrast, placed inside the brain away from the ventricles.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    allowed : numpy.ndarray
        Distance map from ``head``.
    count : int
        Number of lesions.
    contrast_factor : float
        Multiplier of every lesion's contrast (the patient's age group and own variation).

    Returns
    -------
    tuple of Lesion
        The lesions.
    """
    lesions = []
    for _ in range(count):
        radius = float(np.exp(rng.uniform(*np.log(RADIUS_PX))))
        room = np.argwhere(allowed >= min(radius + 1.0, allowed.max()))
        centre = room[rng.integers(len(room))] + rng.uniform(-0.5, 0.5, 2)
        lesions.append(Lesion(centre=centre, radius=radius, aspect=float(rng.uniform(1.0, 1.4)),
                              angle=float(rng.uniform(0, np.pi)), wobble=smooth_field(rng, 3.0),
                              contrast=float(rng.uniform(*CONTRAST) * contrast_factor)))
    return tuple(lesions)


def follow_up(rng: np.random.Generator, lesions: tuple[Lesion, ...]) -> tuple[Lesion, ...]:
    """The same lesions at a second time point: each grown or shrunk by up to 25%.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    lesions : tuple of Lesion
        Lesions at the first time point.

    Returns
    -------
    tuple of Lesion
        The lesions at the second time point.
    """
    return tuple(replace(lesion, radius=float(np.clip(lesion.radius * rng.uniform(0.75, 1.25), *RADIUS_PX)))
                 for lesion in lesions)


def lesion_maps(lesions: tuple[Lesion, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Reference labels and relative contrast of a set of lesions.

    Parameters
    ----------
    lesions : tuple of Lesion
        The lesions.

    Returns
    -------
    labels : numpy.ndarray
        uint8 labels: 0 background, 1 oedema/rim, 2 enhancing core (the core wins where lesions overlap).
    contrast : numpy.ndarray
        Intensity above tissue, relative to tissue (the larger where lesions overlap).
    """
    labels = np.zeros((SIZE, SIZE), np.uint8)
    contrast = np.zeros((SIZE, SIZE))
    for lesion in lesions:
        half_axes = (lesion.radius * lesion.aspect, lesion.radius / lesion.aspect)
        distance = ellipse_distance(lesion.centre, half_axes, lesion.angle) + 0.12 * lesion.wobble
        rim, core = distance < 1, distance < CORE_SHARE
        labels = np.maximum(labels, np.where(core, 2, np.where(rim, 1, 0)).astype(np.uint8))
        level = np.where(core, lesion.contrast, np.where(rim, RIM_CONTRAST * lesion.contrast, 0.0))
        contrast = np.maximum(contrast, level)
    return labels, contrast


def bias_field(rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A smooth multiplicative bias field: a linear ramp in a random direction plus a slow smooth wave.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    amplitude : float
        Largest relative deviation from 1 of the ramp.

    Returns
    -------
    numpy.ndarray
        ``(SIZE, SIZE)`` multipliers around 1.
    """
    rows, cols = _grid()
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * (rows - SIZE / 2) + np.sin(direction) * (cols - SIZE / 2)) / (SIZE / 2)
    return 1.0 + amplitude * (0.8 * ramp + 0.3 * smooth_field(rng, 12.0))


def acquire(rng: np.random.Generator, tissue: np.ndarray, lesions: tuple[Lesion, ...],
            acquisition: Acquisition) -> tuple[np.ndarray, np.ndarray]:
    """Image a head with its lesions on one scanner.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (noise and bias field).
    tissue : numpy.ndarray
        Relative intensities of the lesion-free head.
    lesions : tuple of Lesion
        The lesions.
    acquisition : Acquisition
        The scanner.

    Returns
    -------
    image : numpy.ndarray
        float32 magnitude image in the scanner's stored units.
    labels : numpy.ndarray
        uint8 reference labels.
    """
    labels, contrast = lesion_maps(lesions)
    signal = tissue * (1.0 + acquisition.contrast * ndimage.gaussian_filter(contrast, 0.5))
    if acquisition.bias:
        signal = signal * bias_field(rng, acquisition.bias)
    real = signal + acquisition.noise * rng.standard_normal(signal.shape)
    imaginary = acquisition.noise * rng.standard_normal(signal.shape)
    image = acquisition.scale * np.sqrt(real**2 + imaginary**2)
    return image.astype(np.float32), labels


def draw_patient(rng: np.random.Generator, patient: str, site: str, lesion_free: bool) -> Patient:
    """A patient: attributes, head and first-time-point lesions.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    patient : str
        Patient identifier.
    site : str
        ``"A"`` or ``"B"``.
    lesion_free : bool
        Whether the patient has no lesion.

    Returns
    -------
    Patient
        The patient.
    """
    sex = str(rng.choice(["F", "M"]))
    age_group = str(rng.choice(AGE_GROUPS, p=AGE_P))
    scanner = str(rng.choice(sorted(SCANNERS[site])))
    tissue, allowed = head(rng)
    count = 0 if lesion_free else int(rng.choice(LESION_COUNTS, p=LESION_COUNT_P))
    factor = AGE_CONTRAST[age_group] * float(np.exp(rng.normal(0, 0.15)))
    return Patient(patient, sex, age_group, scanner, tissue, draw_lesions(rng, allowed, count, factor))


def test_cases(rng: np.random.Generator, site: str, n_cases: int) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """A test set of one site: a quarter of its patients scanned twice, a tenth of them without lesions.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    site : str
        ``"A"`` or ``"B"``.
    n_cases : int
        Number of cases (images).

    Returns
    -------
    rows : list of dict
        Case-table attributes, one per case (case_id, patient, site, sex, age_group, scanner).
    images : numpy.ndarray
        ``(n_cases, SIZE, SIZE)`` float32 raw images.
    labels : numpy.ndarray
        ``(n_cases, SIZE, SIZE)`` uint8 reference labels.
    """
    n_patients = round(n_cases / (1 + REPEAT_SHARE))
    repeated = set(rng.permutation(n_patients)[: n_cases - n_patients].tolist())
    lesion_free = set(rng.permutation(n_patients)[: round(LESION_FREE_SHARE * n_patients)].tolist())
    rows, images, labels = [], [], []
    for p in range(n_patients):
        patient = draw_patient(rng, f"P{site}-{p + 1:03d}", site, p in lesion_free)
        visits = [patient.lesions] + ([follow_up(rng, patient.lesions)] if p in repeated else [])
        for lesions in visits:
            image, label = acquire(rng, patient.tissue, lesions, SCANNERS[site][patient.scanner])
            rows.append({"case_id": f"{site}-{len(rows) + 1:03d}", "patient": patient.patient, "site": site,
                         "sex": patient.sex, "age_group": patient.age_group, "scanner": patient.scanner})
            images.append(image)
            labels.append(label)
    return rows, np.stack(images), np.stack(labels)


def training_set(rng: np.random.Generator, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Site-A training images, one per (independent) patient, with the test sets' lesion-free share.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_images : int
        Number of images.

    Returns
    -------
    images, labels : numpy.ndarray
        ``(n_images, SIZE, SIZE)`` float32 raw images and uint8 labels.
    """
    pairs = []
    for i in range(n_images):
        patient = draw_patient(rng, f"train-{i}", "A", bool(rng.random() < LESION_FREE_SHARE))
        pairs.append(acquire(rng, patient.tissue, patient.lesions, SCANNERS["A"][patient.scanner]))
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def normalise(raw: torch.Tensor) -> torch.Tensor:
    """The network's input: ``(raw - NORMALIZE_MEAN) / NORMALIZE_STD``.

    Parameters
    ----------
    raw : torch.Tensor
        ``(n, 1, H, W)`` raw images.

    Returns
    -------
    torch.Tensor
        The normalised images.
    """
    return (raw - NORMALIZE_MEAN) / NORMALIZE_STD


def augment(raw: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips of a batch and a random intensity gain per image (within ``1 ± GAIN``).

    Parameters
    ----------
    raw : torch.Tensor
        ``(n, 1, H, W)`` raw images.
    labels : torch.Tensor
        ``(n, H, W)`` labels.
    generator : torch.Generator
        Source of randomness.

    Returns
    -------
    raw, labels : torch.Tensor
        The augmented batch.
    """
    flips = (torch.rand(2, generator=generator) < 0.5).tolist()
    dims = [d for d, flip in zip((2, 3), flips) if flip]
    if dims:
        raw, labels = raw.flip(dims), labels.flip([d - 1 for d in dims])
    gain = 1 + GAIN * (2 * torch.rand(len(raw), 1, 1, 1, generator=generator) - 1)
    return raw * gain, labels


def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus soft Dice loss of the two lesion classes (Dice pooled over the batch).

    Parameters
    ----------
    logits : torch.Tensor
        ``(n, 3, H, W)`` logits.
    target : torch.Tensor
        ``(n, H, W)`` int64 labels.

    Returns
    -------
    torch.Tensor
        The scalar loss.
    """
    probabilities = logits.softmax(dim=1)[:, 1:]
    truth = F.one_hot(target, unet.CLASSES).permute(0, 3, 1, 2)[:, 1:].float()
    overlap = (probabilities * truth).sum(dim=(0, 2, 3))
    dice = (2 * overlap + 1.0) / (probabilities.sum(dim=(0, 2, 3)) + truth.sum(dim=(0, 2, 3)) + 1.0)
    return F.cross_entropy(logits, target) + (1 - dice).mean()


def train(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Train with Adam (cosine-annealed learning rate) on shuffled, augmented mini-batches.

    Parameters
    ----------
    model : torch.nn.Module
        The untrained network (trained in place).
    images : numpy.ndarray
        Raw training images.
    labels : numpy.ndarray
        Their labels.
    seed : int
        Seed of the shuffling and augmentation.

    Returns
    -------
    float
        Mean training loss over the last epoch's batches.
    """
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=EPOCHS * -(-len(x) // BATCH))
    model.train()
    for _ in range(EPOCHS):
        losses = []
        for batch in torch.randperm(len(x), generator=generator).split(BATCH):
            xb, yb = augment(x[batch], y[batch], generator)
            optimiser.zero_grad()
            loss = loss_fn(model(normalise(xb)), yb)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
    return float(np.mean(losses))


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities of the trained network.

    Parameters
    ----------
    model : torch.nn.Module
        The trained network.
    images : numpy.ndarray
        ``(n, H, W)`` raw images.

    Returns
    -------
    numpy.ndarray
        ``(n, 3, H, W)`` float32 probabilities.
    """
    model.eval()
    return model(normalise(torch.from_numpy(images).unsqueeze(1))).softmax(dim=1).numpy().astype(np.float32)


def save_nifti(array: np.ndarray, path: Path) -> None:
    """Write a 2-D array as NIfTI with the 0.8 mm × 0.8 mm affine and its own dtype.

    Parameters
    ----------
    array : numpy.ndarray
        The ``(SIZE, SIZE)`` array (axis 0 is x, axis 1 is y).
    path : pathlib.Path
        Destination ``.nii.gz``.
    """
    image = nib.Nifti1Image(array, AFFINE)
    image.set_data_dtype(array.dtype)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)


def write_site(out: Path, site: str, rows: list[dict], images: np.ndarray, labels: np.ndarray,
               probabilities: np.ndarray) -> np.ndarray:
    """Write one site's case files and its case table; return the predicted label maps.

    Parameters
    ----------
    out : pathlib.Path
        Output folder.
    site : str
        ``"A"`` or ``"B"``.
    rows : list of dict
        Case attributes.
    images, labels, probabilities : numpy.ndarray
        Raw images, reference labels and softmax probabilities of the cases.

    Returns
    -------
    numpy.ndarray
        ``(n, SIZE, SIZE)`` uint8 predicted labels.
    """
    predictions = probabilities.argmax(axis=1).astype(np.uint8)
    for folder in ("images", "masks", "predictions", "probabilities"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    with open(out / f"{SITE_NAMES[site]}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row, image, label, prediction, probability in zip(rows, images, labels, predictions, probabilities):
            case = row["case_id"]
            paths = {"image": f"images/{case}.nii.gz", "mask": f"masks/{case}.nii.gz",
                     "prediction": f"predictions/{case}.nii.gz", "probabilities": f"probabilities/{case}.npy"}
            save_nifti(image, out / paths["image"])
            save_nifti(label, out / paths["mask"])
            save_nifti(prediction, out / paths["prediction"])
            np.save(out / paths["probabilities"], probability)
            writer.writerow({**row, **paths})
    return predictions


def dice(reference: np.ndarray, prediction: np.ndarray) -> float:
    """Dice coefficient ``2|A∩B| / (|A| + |B|)``; NaN when both masks are empty.

    Parameters
    ----------
    reference, prediction : numpy.ndarray
        Boolean masks.

    Returns
    -------
    float
        The Dice coefficient.
    """
    total = reference.sum() + prediction.sum()
    return float(2 * (reference & prediction).sum() / total) if total else float("nan")


def missed_lesions(reference: np.ndarray, prediction: np.ndarray) -> tuple[int, int]:
    """Reference lesions (8-connected components of labels 1 and 2) that no predicted lesion pixel touches.

    Parameters
    ----------
    reference, prediction : numpy.ndarray
        Label maps of one case.

    Returns
    -------
    missed, total : int
        Lesions without any predicted lesion pixel, and all reference lesions.
    """
    components, total = ndimage.label(reference > 0, structure=np.ones((3, 3)))
    hit = np.unique(components[(prediction > 0) & (components > 0)])
    return total - len(hit), total


def summarise(labels: np.ndarray, predictions: np.ndarray) -> dict:
    """Mean Dice of the whole lesion (labels 1+2) and of the core (label 2), skipping both-empty cases, and misses.

    Parameters
    ----------
    labels, predictions : numpy.ndarray
        ``(n, H, W)`` reference and predicted label maps.

    Returns
    -------
    dict
        ``dice_lesion``, ``dice_core``, ``missed`` and ``lesions``.
    """
    lesion = [dice(r > 0, p > 0) for r, p in zip(labels, predictions)]
    core = [dice(r == 2, p == 2) for r, p in zip(labels, predictions)]
    missed = np.array([missed_lesions(r, p) for r, p in zip(labels, predictions)]).sum(axis=0)
    return {"dice_lesion": float(np.nanmean(lesion)), "dice_core": float(np.nanmean(core)),
            "missed": int(missed[0]), "lesions": int(missed[1])}


def make_deterministic(seed: int) -> None:
    """Seed torch, use deterministic algorithms and ``THREADS`` CPU threads.

    Parameters
    ----------
    seed : int
        The torch seed.
    """
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(THREADS)


def prepare(out: Path, seed: int) -> None:
    """Generate the data, train the U-Net, write every file and print a summary.

    Parameters
    ----------
    out : pathlib.Path
        Output folder.
    seed : int
        Seed of all randomness.
    """
    make_deterministic(seed)
    train_rng, *site_rngs = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    images, labels = training_set(train_rng, N_TRAIN)
    model = unet.build()
    start = time.perf_counter()
    final_loss = train(model, images, labels, seed)
    print(f"trained on {N_TRAIN} site-A images for {EPOCHS} epochs in {time.perf_counter() - start:.1f} s; "
          f"final train loss {final_loss:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    print(f"normalize: {{mean: [{NORMALIZE_MEAN}], std: [{NORMALIZE_STD}]}}")
    for site, rng in zip(N_TEST, site_rngs):
        rows, images, labels = test_cases(rng, site, N_TEST[site])
        predictions = write_site(out, site, rows, images, labels, predict(model, images))
        s = summarise(labels, predictions)
        print(f"{SITE_NAMES[site]} (site {site}, {len(rows)} cases): Dice lesion {s['dice_lesion']:.3f}, "
              f"core {s['dice_core']:.3f}; missed {s['missed']} of {s['lesions']} lesions")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--out DIR`` and ``--seed N``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: the command line).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    prepare(args.out, args.seed)


if __name__ == "__main__":
    main()

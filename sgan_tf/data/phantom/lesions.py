"""The phantom's lesions: one of a DeepLesion coarse type in a host tissue typical of it, a
star-shaped blob with its own look and a soft boundary whose >= 0.5 part is the true mask."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import cv2
import numpy as np

from sgan_tf.data.phantom.anatomy import LEVELS, Anatomy, Shape, coverage, smooth_noise, wobble

MIN_LESION_PX = 5.0  # smallest long diameter in pixels (matters for small test images)


class LesionSite(NamedTuple):
    """Where lesions of one coarse type go."""

    levels: tuple[str, ...]  # body levels
    hosts: tuple[str, ...]  # tissues the lesion's centre may lie in
    within: tuple[str, ...] | None  # tissues the whole lesion must lie in (None: the body)
    long_mm: tuple[float, float]  # range of the long diameter


LESION_SITES = {
    1: LesionSite(LEVELS, ("vertebra", "rib", "pelvic_bone", "sternum", "femur"), None, (8.0, 40.0)),
    2: LesionSite(("abdomen",), ("pancreas", "visceral_fat", "stomach"), None, (10.0, 60.0)),
    3: LesionSite(("thorax",), ("mediastinum",), None, (10.0, 50.0)),
    4: LesionSite(("abdomen",), ("liver",), ("liver",), (5.0, 60.0)),
    5: LesionSite(("thorax",), ("lung",), ("lung", "lung_vessel"), (5.0, 30.0)),
    6: LesionSite(("abdomen",), ("kidney",), None, (8.0, 50.0)),
    7: LesionSite(LEVELS, ("subcut_fat", "muscle"), None, (10.0, 60.0)),
    8: LesionSite(("pelvis",), ("pelvic_fat", "bladder", "rectum"), None, (10.0, 60.0)),
}

# Inner look of a lesion and its probability (necrotic only from 20 mm on).
_PATTERNS = {"homogeneous": 0.4, "textured": 0.35, "calcified": 0.1, "necrotic": 0.15}

# ------------------------------------------------------------------------------- lesions


@dataclasses.dataclass(frozen=True)
class Lesion:
    """Where the lesion went and how it looks (for records and checks)."""

    lesion_type: int
    host: str
    long_mm: float  # drawn long diameter of the ellipse (the mask's may differ a little)
    hu: float  # mean lesion HU
    host_hu: float  # mean phantom HU under the lesion before it was painted
    edge_px: float  # boundary ramp width (about 1: sharp)
    pattern: str  # homogeneous, textured, necrotic, calcified


def lesion_hu(rng: np.random.Generator, lesion_type: int, host: str, host_hu: float) -> float:
    """Type-typical lesion HU given its host's HU (low contrast for liver/pancreas)."""
    if lesion_type == 1:
        return rng.uniform(20, 150) if rng.uniform() < 0.7 else rng.uniform(600, 1000)  # lytic / sclerotic
    if lesion_type == 4:
        kind = rng.choice(3, p=[0.7, 0.15, 0.15])
        return [host_hu - rng.uniform(10, 30), rng.uniform(0, 15), host_hu + rng.uniform(10, 30)][kind]
    if lesion_type == 5:
        return rng.uniform(-30, 60) if rng.uniform() < 0.8 else rng.uniform(-650, -400)  # solid / ground glass
    if lesion_type == 6:
        return rng.uniform(0, 20) if rng.uniform() < 0.4 else rng.uniform(40, 100)  # cyst / solid
    if host in ("pancreas", "stomach", "muscle"):
        return host_hu + rng.choice([-1, 1]) * rng.uniform(10, 30)
    return rng.uniform(25, 60)


def lesion_shape(rng: np.random.Generator, cx: float, cy: float, long_px: float, lesion_type: int) -> Shape:
    """An ellipse with radial Fourier perturbations (lung nodules: some spiculated), scaled so
    that its longest diameter through the centre is `long_px`."""
    aspect = rng.uniform(0.55, 1.0)
    harmonics = wobble(rng, rng.uniform(0.05, 0.35), 6)
    if lesion_type == 5 and rng.uniform() < 0.4:
        harmonics = harmonics + wobble(rng, rng.uniform(0.3, 0.6), 14, 8)
    shape = Shape(cx, cy, 1.0, aspect, rng.uniform(0, np.pi), 2.0, harmonics)
    phi = np.linspace(0, np.pi, 360, endpoint=False)
    scale = long_px / float((shape.radius(phi) + shape.radius(phi + np.pi)).max())
    return dataclasses.replace(shape, a=scale, b=scale * aspect)


def place_lesion(a: Anatomy, host: str, allowed: np.ndarray, long_px: float, edge: float, lesion_type: int,
           contained: bool) -> tuple[Shape, float] | None:
    """A lesion shape centred in `host`, lying in `allowed`; shrinks it (down to MIN_LESION_PX)
    when it does not fit. Returns (shape, long_px) or None."""
    rng = a.rng
    depth = cv2.distanceTransform(a.mask(host).astype(np.uint8), cv2.DIST_L2, 5)
    for attempt in range(36):
        if attempt and attempt % 6 == 0:
            long_px = max(long_px * 0.8, MIN_LESION_PX)
        need = min(long_px / 2.0 if contained else long_px / 4.0, float(depth.max()))
        ys, xs = np.nonzero(depth >= need)
        i = int(rng.integers(ys.size))
        shape = lesion_shape(rng, float(xs[i]) + rng.uniform(-0.5, 0.5), float(ys[i]) + rng.uniform(-0.5, 0.5),
                              long_px, lesion_type)
        win = shape.bounds(a.n, edge)
        inside = coverage(shape.distance(win), edge) >= 0.5
        if inside.sum() >= 4 and allowed[win][inside].all():
            return shape, long_px
    return None


def add_lesion(a: Anatomy, lesion_type: int) -> tuple[Lesion, np.ndarray]:
    """Places one lesion of the type in a host typical for it (the hosts in random order until
    one fits); returns it and its soft profile [n, n] in [0, 1] (the true mask: >= 0.5)."""
    rng, n, s = a.rng, a.n, a.s
    site = LESION_SITES[lesion_type]
    allowed = a.mask(*site.within) if site.within else (a.labels > 0)
    allowed = cv2.erode(allowed.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    lo, hi = site.long_mm
    long_px = max(np.exp(rng.uniform(np.log(lo), np.log(hi))) / s, MIN_LESION_PX)
    edge = rng.uniform(2.0, 5.0) if rng.uniform() < 0.4 else 1.0  # blurred or sharp boundary
    for host in rng.permutation([h for h in site.hosts if a.mask(h).sum() > 20]):
        placed = place_lesion(a, str(host), allowed, long_px, edge, lesion_type, site.within is not None)
        if placed:
            break
    else:
        raise RuntimeError(f"could not place a type-{lesion_type} lesion in a {n} px slice")
    shape, long_px = placed
    host = str(host)
    win = shape.bounds(n, edge)
    distance = shape.distance(win)
    profile = coverage(distance, edge)
    inside = profile >= 0.5
    host_hu = float(a.hu[win][inside].mean())
    hu = float(lesion_hu(rng, lesion_type, host, host_hu))
    weights = np.array([p if name != "necrotic" or long_px * s >= 20 else 0.0 for name, p in _PATTERNS.items()])
    pattern = str(rng.choice(list(_PATTERNS), p=weights / weights.sum()))
    value = np.full(profile.shape, hu, np.float32)
    if pattern == "textured":
        value += rng.uniform(5, 15) * smooth_noise(rng, max(profile.shape), max(2.0, long_px / 6))[
            : profile.shape[0], : profile.shape[1]]
    elif pattern == "necrotic":
        core = coverage(distance + 0.45 * shape.b, max(edge, 0.2 * shape.b))
        value += core * (rng.uniform(0, 20) - hu)
    elif pattern == "calcified":
        ys, xs = np.nonzero(distance < -1.5)
        for j in rng.choice(ys.size, size=min(ys.size, int(rng.integers(1, 4))), replace=False):
            value[ys[j], xs[j]] = rng.uniform(300, 700)
        value = cv2.GaussianBlur(value, (0, 0), 0.7)
    region = a.hu[win]
    region += profile * (value - region)
    full = np.zeros((n, n), np.float32)
    full[win] = profile
    a.labels[full >= 0.5] = a.label("lesion")
    return Lesion(lesion_type, host, long_px * s, float(value[inside].mean()), host_hu, float(edge), pattern), full



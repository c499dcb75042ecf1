"""The phantom's anatomy: star-shaped regions and a slice painted in HU at one body level
(thorax, upper abdomen, pelvis) with a tissue label per pixel (sgan_tf/data/phantom)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

LEVELS = ("thorax", "abdomen", "pelvis")
LEVEL_Z = {"thorax": (0.15, 0.4), "abdomen": (0.45, 0.62), "pelvis": (0.7, 0.9)}

# ------------------------------------------------------------------------------- shapes


@dataclasses.dataclass
class Shape:
    """A star-shaped region in pixels: a superellipse (power 2 = ellipse) with semi-axes a, b
    turned by `angle` (radians), its radius times 1 + sum amp * cos(k * phi + phase)."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float = 0.0
    power: float = 2.0
    harmonics: tuple[tuple[int, float, float], ...] = ()

    def radius(self, phi: np.ndarray) -> np.ndarray:
        """Boundary radius (px) at angle phi relative to the shape's axes."""
        c, s = np.abs(np.cos(phi)), np.abs(np.sin(phi))
        r = (np.power(c / self.a, self.power) + np.power(s / self.b, self.power)) ** (-1.0 / self.power)
        wobble = 1.0
        for k, amp, phase in self.harmonics:
            wobble = wobble + amp * np.cos(k * phi + phase)
        return r * wobble

    def extent(self) -> float:
        """An upper bound of the boundary radius."""
        corner = 2 ** (0.5 - 1.0 / self.power) if self.power > 2 else 1.0
        return max(self.a, self.b) * corner * (1.0 + sum(abs(h[1]) for h in self.harmonics))

    def bounds(self, n: int, margin: float) -> tuple[slice, slice]:
        """Rows and columns of an n x n image that hold the shape (grown by `margin` px)."""
        r = self.extent() + margin + 2
        y0, y1 = max(int(self.cy - r), 0), min(int(self.cy + r) + 2, n)
        x0, x1 = max(int(self.cx - r), 0), min(int(self.cx + r) + 2, n)
        return slice(y0, max(y1, y0)), slice(x0, max(x1, x0))

    def distance(self, win: tuple[slice, slice]) -> np.ndarray:
        """Radial signed distance (px) to the boundary over image bounds `win`: negative inside."""
        ys = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] - np.float32(self.cy)
        xs = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] - np.float32(self.cx)
        r = np.sqrt(xs * xs + ys * ys)
        phi = np.arctan2(ys, xs) - np.float32(self.angle)
        return r - self.radius(phi).astype(np.float32)


def coverage(distance: np.ndarray, edge: float) -> np.ndarray:
    """Soft inside-ness in [0, 1] with a linear ramp `edge` px wide centred on the boundary."""
    return np.clip(0.5 - distance / edge, 0.0, 1.0)


def wobble(rng: np.random.Generator, amp: float, k_max: int = 5, k_min: int = 2) -> tuple:
    """Random radial harmonics k_min..k_max with amplitudes up to amp / k."""
    return tuple((k, float(amp * rng.uniform(0, 1) / k), float(rng.uniform(0, 2 * np.pi)))
                 for k in range(k_min, k_max + 1))


def smooth_noise(rng: np.random.Generator, n: int, cell_px: float) -> np.ndarray:
    """Zero-mean unit-std random field varying over about `cell_px` pixels."""
    cells = max(2, int(round(n / cell_px)))
    field = cv2.resize(rng.standard_normal((cells, cells)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    field = cv2.GaussianBlur(field, (0, 0), max(cell_px / 3.0, 0.5))
    return (field - field.mean()) / (field.std() + 1e-6)


# ------------------------------------------------------------------------------ anatomy


class Anatomy:
    """A slice being painted in HU (painter's algorithm) with a label per pixel.

    Positions are mm from the body centre (x to the image right = patient's left, y down =
    posterior); sizes in mm. `labels` names the last tissue painted over each pixel.
    """

    def __init__(self, rng: np.random.Generator, n: int, spacing: float, width: float, depth: float):
        self.rng, self.n, self.s = rng, n, spacing
        self.X, self.Y = width / 2.0, depth / 2.0
        self.cx = n / 2.0 + rng.uniform(-0.02, 0.02) * n
        self.cy = n / 2.0 + rng.uniform(-0.03, 0.03) * n
        self.hu = np.full((n, n), -1000.0, np.float32)
        self.labels = np.zeros((n, n), np.uint8)
        self.names = ["air"]
        self.outline: Shape | None = None  # set by body()
        self.under_fat = 0.0  # mm from the skin surface to below the subcutaneous fat
        self.texture = (0.7 * smooth_noise(rng, n, n / 40.0) + 0.7 * smooth_noise(rng, n, n / 12.0))

    def shape(self, x: float, y: float, a: float, b: float, angle: float = 0.0, power: float = 2.0,
              harmonics: tuple = ()) -> Shape:
        """A shape centred (x, y) mm from the body centre, semi-axes a, b mm, turned `angle` degrees."""
        s = self.s
        return Shape(self.cx + x / s, self.cy + y / s, max(a / s, 0.5), max(b / s, 0.5), np.deg2rad(angle),
                      power, harmonics)

    def sub(self, parent: Shape, u: float, v: float, a: float, b: float) -> Shape:
        """An ellipse with semi-axes a, b mm, turned like `parent`, centred at (u, v) in units
        of the parent's semi-axes along its own axes."""
        cos, sin = np.cos(parent.angle), np.sin(parent.angle)
        du, dv = u * parent.a, v * parent.b
        return Shape(parent.cx + du * cos - dv * sin, parent.cy + du * sin + dv * cos, a / self.s, b / self.s,
                      parent.angle)

    def label(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)

    def mask(self, *names: str) -> np.ndarray:
        ids = [self.names.index(m) for m in names if m in self.names]
        return np.isin(self.labels, ids)

    def paint(self, shape: Shape, hu: float, name: str, inset: float = 0.0, texture: float = 0.0,
              within: Shape | None = None, within_inset: float = 0.0, edge: float = 1.0) -> None:
        """Fills `shape` shrunk by `inset` mm (clipped to `within`) with hu + texture * field."""
        win = shape.bounds(self.n, edge)
        if win[0].stop <= win[0].start or win[1].stop <= win[1].start:
            return
        cov = coverage(shape.distance(win) + inset / self.s, edge)
        if within is not None:
            cov = np.minimum(cov, coverage(within.distance(win) + within_inset / self.s, edge))
        value = hu + texture * self.texture[win] if texture else np.float32(hu)
        region = self.hu[win]
        region += cov * (value - region)
        self.labels[win][cov >= 0.5] = self.label(name)

    def muscle(self, shape: Shape) -> None:
        """A muscle (45-60 HU), kept beneath the subcutaneous fat."""
        self.paint(shape, self.rng.uniform(45, 60), "muscle", texture=4.0, within=self.outline,
                   within_inset=self.under_fat)

    def bone(self, shape: Shape, name: str, cortex: float = 1.5, within: Shape | None = None) -> None:
        """Cortical shell (900-1100 HU) around cancellous bone (200-320 HU, textured)."""
        rng = self.rng
        self.paint(shape, rng.uniform(900, 1100), name, within=within)
        self.paint(shape, rng.uniform(200, 320), name, inset=cortex, texture=25.0, within=within)

    def on_boundary(self, shape: Shape, degrees: float, outward_mm: float) -> tuple[float, float, float]:
        """(x, y) in mm of the point of `shape`'s boundary in image direction `degrees`
        (0 = image right, 90 = down), moved outward; and the tangent direction in degrees."""
        phi = np.deg2rad(degrees)
        r = float(shape.radius(np.array(phi - shape.angle))) * self.s + outward_mm
        return ((shape.cx - self.cx) * self.s + r * np.cos(phi), (shape.cy - self.cy) * self.s + r * np.sin(phi),
                degrees + 90.0)

    def body(self, power: float, fat: float, muscle: float) -> tuple[Shape, Shape]:
        """Skin, subcutaneous fat `fat` mm, muscle wall `muscle` mm; returns (body, cavity)."""
        rng = self.rng
        outline = self.shape(0, 0, self.X, self.Y, power=power, harmonics=wobble(rng, 0.04, 4))
        self.outline, self.under_fat = outline, 2.0 + fat
        self.paint(outline, rng.uniform(30, 50), "skin")
        self.paint(outline, rng.uniform(-110, -90), "subcut_fat", inset=2.0, texture=6.0)
        self.paint(outline, rng.uniform(45, 60), "muscle", inset=2.0 + fat, texture=4.0)
        cavity = self.shape(0, 0, self.X - 2 - fat - muscle, self.Y - 2 - fat - muscle, power=power,
                            harmonics=outline.harmonics)
        return outline, cavity

    def spine(self, y: float, scale: float = 1.0, paraspinal: float = 24.0) -> None:
        """Vertebra at depth y mm: paraspinal muscles, body, arch, spinous/transverse processes, canal."""
        rng = self.rng
        for side in (-1, 1):
            self.muscle(self.shape(side * 26 * scale, y + 42 * scale, paraspinal, paraspinal * 0.85, side * 10))
        self.bone(self.shape(0, y + 26 * scale, 14 * scale, 12 * scale), "vertebra", cortex=3.0)
        self.bone(self.shape(0, y + 45 * scale, 4 * scale, 12 * scale), "vertebra")
        for side in (-1, 1):
            self.bone(self.shape(side * 19 * scale, y + 24 * scale, 13 * scale, 4.5 * scale, side * 20), "vertebra")
        self.bone(self.shape(0, y, 18 * scale, 15 * scale, harmonics=wobble(rng, 0.05, 3)), "vertebra")
        self.paint(self.shape(0, y + 25 * scale, 8 * scale, 7 * scale), rng.uniform(10, 30), "spinal_canal")

    def ribs(self, cavity: Shape, directions: Sequence[float]) -> None:
        """Rib sections on the cavity's edge in the given image directions (degrees), along it."""
        rng = self.rng
        for degrees in directions:
            x, y, tangent = self.on_boundary(cavity, degrees + rng.uniform(-3, 3), rng.uniform(1, 5))
            self.bone(self.shape(x, y, rng.uniform(6, 11), rng.uniform(3.5, 5), tangent + rng.uniform(-20, 20)),
                      "rib", cortex=1.2)

    def bowel(self, cavity: Shape, count: int, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        """Bowel loops: soft-tissue wall around fluid, gas or faeces."""
        rng = self.rng
        for _ in range(count):
            loop = self.shape(rng.uniform(*x_range) * self.X, rng.uniform(*y_range) * self.Y,
                              rng.uniform(8, 18), rng.uniform(7, 14), rng.uniform(0, 180),
                              harmonics=wobble(rng, 0.15, 4))
            self.paint(loop, rng.uniform(30, 50), "bowel", within=cavity)
            content = rng.choice(3, p=[0.5, 0.25, 0.25])
            hu, texture = [(rng.uniform(0, 25), 3.0), (rng.uniform(-1000, -950), 0.0),
                           (rng.uniform(-80, 10), 40.0)][content]
            self.paint(loop, hu, "bowel", inset=rng.uniform(2, 3.5), texture=texture, within=cavity)

    def lung_vessels(self, lung: np.ndarray, hila: Sequence[tuple[float, float]]) -> None:
        """Branching vessel trees from the hila and vessel cross-sections, kept inside the lungs."""
        rng, s, n = self.rng, self.s, self.n
        scale = 8  # sub-pixel drawing: cv2 shift bits = 3
        ink = np.zeros((n, n), np.uint8)

        def branch(x: float, y: float, direction: float, length: float, width: float, depth: int) -> None:
            x2, y2 = x + length * np.cos(direction), y + length * np.sin(direction)
            p1 = (int(round((self.cx + x / s) * scale)), int(round((self.cy + y / s) * scale)))
            p2 = (int(round((self.cx + x2 / s) * scale)), int(round((self.cy + y2 / s) * scale)))
            cv2.line(ink, p1, p2, 255, max(1, int(round(width / s))), cv2.LINE_AA, shift=3)
            if depth > 0:
                for turn in (-1, 1):
                    branch(x2, y2, direction + turn * rng.uniform(0.25, 0.6), length * rng.uniform(0.65, 0.85),
                           width * 0.7, depth - 1)

        for hx, hy in hila:
            outward = 0.0 if hx > 0 else np.pi
            for _ in range(rng.integers(3, 6)):
                direction = outward + rng.uniform(-1.3, 1.3)
                branch(hx, hy, direction, rng.uniform(12, 25), rng.uniform(2.5, 4.5), int(rng.integers(2, 4)))
        ys, xs = np.nonzero(lung)
        for i in rng.choice(ys.size, size=min(ys.size, int(rng.integers(80, 160))), replace=False):
            cv2.circle(ink, (int(xs[i]) * scale, int(ys[i]) * scale), int(rng.uniform(0.5, 2.5) / s * scale),
                       255, -1, cv2.LINE_AA, shift=3)
        cov = cv2.GaussianBlur(ink.astype(np.float32) / 255.0, (0, 0), 0.6) * lung
        self.hu += cov * (rng.uniform(40, 120) - self.hu)
        self.labels[cov >= 0.5] = self.label("lung_vessel")


def _thorax(a: Anatomy) -> None:
    """Chest: lungs with vessels, mediastinum with the heart or the great vessels and trachea,
    descending aorta, spine, sternum, ribs."""
    rng, Y = a.rng, a.Y
    fat = rng.uniform(6, 22)
    _, cavity = a.body(2.2, fat, rng.uniform(10, 18))
    a.paint(cavity, rng.uniform(-870, -830), "lung", texture=12.0)
    spine_y = Y - rng.uniform(70, 85)
    med_top, med_bottom = -Y + fat + 14, spine_y + 5
    mediastinum = a.shape(rng.uniform(-4, 8), (med_top + med_bottom) / 2, rng.uniform(38, 50),
                          (med_bottom - med_top) / 2, harmonics=wobble(rng, 0.1, 4))
    a.paint(mediastinum, rng.uniform(-100, -70), "mediastinum", texture=8.0, within=cavity)
    if rng.uniform() < 0.5:  # heart level
        heart = a.shape(rng.uniform(15, 30), med_top + rng.uniform(45, 60), rng.uniform(55, 70),
                        rng.uniform(42, 52), rng.uniform(-40, -20), harmonics=wobble(rng, 0.08, 4))
        a.paint(heart, rng.uniform(40, 55), "heart", texture=4.0, within=cavity)
        blood = rng.uniform(130, 180)
        for u, v, ra, rb in ((0.35, -0.1, 0.45, 0.5), (-0.3, -0.35, 0.45, 0.35), (-0.15, 0.45, 0.5, 0.35)):
            a.paint(a.sub(heart, u, v, ra * heart.a * a.s, rb * heart.b * a.s), blood, "heart")  # chambers
    else:  # great vessels, airways
        blood = rng.uniform(130, 180)
        a.paint(a.shape(-12, med_top + 40, 16, 15), blood, "aorta")
        a.paint(a.shape(20, med_top + 35, 14, 13), blood - 10, "vessel")
        a.paint(a.shape(-32, med_top + 30, 10, 9), blood - 20, "vessel")
        trachea = a.shape(rng.uniform(-4, 4), spine_y - 32, 10, 9)
        a.paint(trachea, 40, "mediastinum")
        a.paint(trachea, -1000, "airway", inset=2.0)
    a.paint(a.shape(-4, spine_y - 24, 7, 6), 40, "mediastinum")  # oesophagus
    a.paint(a.shape(rng.uniform(20, 28), spine_y - 10, 12, 12), rng.uniform(130, 180), "aorta")
    lung = a.mask("lung")
    a.lung_vessels(lung, [(-45, (med_top + med_bottom) / 2 + 10), (45, (med_top + med_bottom) / 2 + 10)])
    a.spine(spine_y, 1.0, paraspinal=rng.uniform(20, 28))
    a.bone(a.shape(0, -Y + fat + 8, 15, 6), "sternum")
    a.ribs(cavity, [d for d in np.arange(-70, 250, 18) if abs(d - 90) > 35])  # not at the sternum or spine


def _abdomen(a: Anatomy) -> None:
    """Upper abdomen: liver, spleen, stomach, pancreas, kidneys, aorta and IVC, bowel, spine, lower ribs."""
    rng, X, Y = a.rng, a.X, a.Y
    _, cavity = a.body(2.3, rng.uniform(8, 35), rng.uniform(8, 14))
    a.paint(cavity, rng.uniform(-105, -85), "visceral_fat", texture=8.0)
    a.bowel(cavity, int(rng.integers(5, 10)), (-0.5, 0.7), (-0.8, 0.1))
    spine_y = Y - rng.uniform(75, 95)
    liver = a.shape(-0.42 * X, rng.uniform(-0.15, 0.05) * Y, rng.uniform(0.5, 0.6) * X, rng.uniform(0.62, 0.78) * Y,
                    rng.uniform(-25, -5), harmonics=wobble(rng, 0.12, 5))
    liver_hu = rng.uniform(55, 70)
    a.paint(liver, liver_hu, "liver", texture=5.0, within=cavity)
    if rng.uniform() < 0.6:  # left lobe
        a.paint(a.shape(rng.uniform(-0.15, 0.05) * X, -0.45 * Y, 0.3 * X, 0.22 * Y, rng.uniform(0, 20),
                        harmonics=wobble(rng, 0.1, 4)), liver_hu, "liver", texture=5.0, within=cavity)
    for x, y in ((-0.3, -0.1), (-0.5, 0.1)):  # hepatic/portal vessels
        a.paint(a.shape(x * X + rng.uniform(-8, 8), y * Y + rng.uniform(-8, 8), rng.uniform(4, 7), rng.uniform(4, 7)),
                liver_hu + rng.uniform(60, 100), "liver")
    a.paint(a.shape(0.62 * X, 0.2 * Y, rng.uniform(45, 60), rng.uniform(22, 30), rng.uniform(50, 70),
                    harmonics=wobble(rng, 0.1, 4)), rng.uniform(45, 55), "spleen", texture=4.0, within=cavity)
    stomach = a.shape(0.3 * X, -0.45 * Y, rng.uniform(40, 55), rng.uniform(28, 38), rng.uniform(0, 30),
                      harmonics=wobble(rng, 0.1, 4))
    a.paint(stomach, rng.uniform(35, 50), "stomach", within=cavity)
    a.paint(stomach, rng.uniform(5, 20), "stomach", inset=4.0, texture=3.0, within=cavity)
    if rng.uniform() < 0.5:
        gas = a.sub(stomach, 0.0, -0.5, 0.6 * stomach.a * a.s, 0.35 * stomach.b * a.s)
        a.paint(gas, -1000, "stomach_gas", within=stomach, within_inset=4.0)
    if rng.uniform() < 0.8:
        a.paint(a.shape(rng.uniform(0, 20), spine_y - rng.uniform(45, 60), rng.uniform(45, 65), rng.uniform(9, 14),
                        rng.uniform(-20, -5), harmonics=wobble(rng, 0.15, 5)), rng.uniform(40, 50), "pancreas",
                texture=5.0, within=cavity)
    blood = rng.uniform(130, 180)
    a.paint(a.shape(15, spine_y - 27, 11, 11), blood, "aorta")
    a.paint(a.shape(-24, spine_y - 28, 13, 9), blood - 30, "vessel")
    for side in (-1, 1):
        a.muscle(a.shape(side * 36, spine_y + 2, 13, 15))  # psoas
        kidney = a.shape(side * rng.uniform(62, 75), spine_y + rng.uniform(0, 12), rng.uniform(28, 35),
                         rng.uniform(20, 25), side * rng.uniform(55, 75), harmonics=wobble(rng, 0.05, 3))
        a.paint(kidney, rng.uniform(140, 170), "kidney", texture=5.0, within=cavity)
        a.paint(a.sub(kidney, 0.0, -side * 0.5, 12, 7), rng.uniform(-90, -60), "renal_sinus")  # hilum: to the spine
        a.paint(a.sub(kidney, 0.0, -side * 0.4, 6, 4), rng.uniform(5, 25), "renal_sinus")  # pelvis
    a.spine(spine_y, 1.1, paraspinal=rng.uniform(24, 32))
    a.ribs(cavity, [d + rng.uniform(-5, 5) for d in (-20, 5, 30, 150, 175, 200)])


def _pelvis(a: Anatomy) -> None:
    """Pelvis at the iliac wings (sacrum, bowel) or at the hips (femoral heads, bladder, rectum)."""
    rng, X, Y = a.rng, a.X, a.Y
    outline, cavity = a.body(2.5, rng.uniform(12, 38), rng.uniform(8, 12))
    a.paint(cavity, rng.uniform(-105, -85), "pelvic_fat", texture=8.0)
    blood = rng.uniform(130, 180)
    if rng.uniform() < 0.5:  # iliac wings and sacrum
        a.bowel(cavity, int(rng.integers(6, 11)), (-0.45, 0.45), (-0.7, 0.3))
        joint_y = Y - rng.uniform(50, 65)
        for side in (-1, 1):
            # The wing runs from the sacroiliac joint forward and outward to the iliac spine.
            x0, y0 = side * rng.uniform(40, 50), joint_y
            x1, y1 = side * (X - a.under_fat - rng.uniform(12, 25)), -rng.uniform(0.0, 0.2) * Y
            length, angle = np.hypot(x1 - x0, y1 - y0) / 2, np.rad2deg(np.arctan2(y1 - y0, x1 - x0))
            ux, uy = (x1 - x0) / (2 * length), (y1 - y0) / (2 * length)
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            inward = side * np.array([uy, -ux])  # unit normal pointing to the front/midline
            a.muscle(a.shape(mx - 26 * inward[0], my - 26 * inward[1], 0.95 * length, 24, angle))  # gluteus
            a.muscle(a.shape(mx + 16 * inward[0], my + 16 * inward[1], 0.75 * length, 13, angle))  # iliacus
            a.muscle(a.shape(side * 55, joint_y - 45, 17, 15))  # psoas
            a.bone(a.shape(mx, my, length, rng.uniform(6, 9), angle, harmonics=((2, 0.06, 0.0),)), "pelvic_bone",
                   cortex=2.0, within=outline)
            a.paint(a.shape(side * 45, joint_y - 55, 6, 6), blood, "vessel")
            a.paint(a.shape(side * 35, joint_y - 50, 8, 7), blood - 30, "vessel")
        sacrum = a.shape(0, joint_y + 5, rng.uniform(40, 48), rng.uniform(15, 19), harmonics=((2, 0.12, np.pi),))
        a.bone(sacrum, "pelvic_bone", cortex=2.0)
        a.paint(a.shape(0, joint_y + 10, 9, 5), rng.uniform(10, 30), "spinal_canal")
        if rng.uniform() < 0.4:
            bladder = a.shape(0, -0.35 * Y, rng.uniform(30, 45), rng.uniform(20, 30))
            a.paint(bladder, 40, "bladder", within=cavity)
            a.paint(bladder, rng.uniform(0, 15), "bladder", inset=2.0, within=cavity)
    else:  # hip joints, bladder, rectum
        for side in (-1, 1):
            a.muscle(a.shape(side * 0.55 * X, 0.55 * Y, 55, 30, side * 30))  # gluteus
            a.muscle(a.shape(side * 0.4 * X, 0.1 * Y, 12, 30, side * -10))  # obturator internus
            a.muscle(a.shape(side * 0.45 * X, -0.45 * Y, 15, 12))  # iliopsoas
            a.bone(a.shape(side * 0.55 * X, 0.1 * Y, 30, 36, side * 10), "pelvic_bone", cortex=2.5)
            head = a.shape(side * 0.6 * X, 0.08 * Y, 23, 23)
            a.paint(head, 40, "joint", inset=-2.0)
            a.bone(head, "femur", cortex=2.0)
            a.paint(a.shape(side * 0.3 * X, -0.45 * Y, 6, 6), blood, "vessel")
            a.paint(a.shape(side * 0.36 * X, -0.42 * Y, 8, 7), blood - 30, "vessel")
        bladder = a.shape(0, -0.3 * Y, rng.uniform(35, 55), rng.uniform(25, 40), harmonics=wobble(rng, 0.05, 3))
        a.paint(bladder, 40, "bladder", within=cavity)
        a.paint(bladder, rng.uniform(0, 15), "bladder", inset=2.0, within=cavity)
        a.paint(a.shape(0, 0.15 * Y, rng.uniform(20, 30), rng.uniform(12, 18)), rng.uniform(35, 50), "pelvic_organ",
                texture=5.0, within=cavity)
        rectum = a.shape(0, 0.55 * Y, rng.uniform(14, 20), rng.uniform(12, 16))
        a.paint(rectum, rng.uniform(35, 50), "rectum", within=cavity)
        a.paint(rectum, rng.choice([rng.uniform(-1000, -950), rng.uniform(-60, 20)]), "rectum", inset=3.0,
                texture=20.0, within=cavity)
        a.bone(a.shape(0, Y - 28, 10, 7), "pelvic_bone")


BODIES = {"thorax": (_thorax, (300, 370), (200, 250)), "abdomen": (_abdomen, (280, 360), (210, 270)),
           "pelvis": (_pelvis, (320, 390), (200, 250))}



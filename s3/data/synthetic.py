"""A seeded synthetic VOS dataset written in the DAVIS 2017 layout (the demo's data).

Each video shows 1-3 textured shapes (ellipses, polygons, stars, rectangles, blobs) that move, bounce,
rotate, scale and occlude each other over a textured, drifting background; some objects enter after the
first frame. The tree is the real DAVIS 2017 trainval layout, so the ordinary DAVIS reader consumes it:

    <root>/JPEGImages/480p/<seq>/00000.jpg
    <root>/Annotations/480p/<seq>/00000.png     paletted PNG, pixel = object id (DAVIS palette)
    <root>/ImageSets/2017/{train,val}.txt
    <root>/synthetic.json                        the generator's parameters (marks the folder as ours)

Everything is drawn with vectorised numpy; a video depends only on (seed, split, index), so the output is
identical for a seed regardless of the order of generation.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from s3.data.errors import DataError
from s3.io.atomic import replace_directory
from s3.io.palette import index_mask_image

MARKER_FILE = "synthetic.json"
SHAPE_KINDS = ("ellipse", "polygon", "star", "rectangle", "blob")
_SPLIT_CODES = {"train": 0, "val": 1}


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of a synthetic dataset; stored in the marker file so a changed request regenerates."""

    seed: int = 0
    num_train: int = 80
    num_val: int = 12
    num_frames: int = 24
    height: int = 128
    width: int = 160
    max_objects: int = 3
    late_entry_probability: float = 0.35
    jpeg_quality: int = 92
    version: int = 1


@dataclass
class _ObjectPlan:
    object_id: int
    kind: str
    radius: float
    aspect: float
    sides: int
    inner_ratio: float
    harmonics: np.ndarray  # 2 x 3: (amplitude, frequency, phase) of the blob outline
    colors: np.ndarray  # 2 x 3 float
    texture: str
    texture_freq: float
    texture_angle: float
    start: np.ndarray  # 2: x, y
    velocity: np.ndarray  # 2: px per frame
    wobble: np.ndarray  # 2 x 3: amplitude, angular frequency, phase per axis
    angle0: float
    angular_velocity: float
    scale_amplitude: float
    scale_frequency: float
    scale_phase: float
    appear_frame: int


def _reflect(value: np.ndarray | float, low: float, high: float) -> np.ndarray:
    """Fold positions into [low, high] as if bouncing off the walls (a triangle wave)."""
    span = max(high - low, 1e-6)
    shifted = np.mod(np.asarray(value) - low, 2 * span)
    return low + np.where(shifted > span, 2 * span - shifted, shifted)


def _random_color(rng: np.random.Generator, avoid: list[np.ndarray], min_distance: float) -> np.ndarray:
    """A saturated-ish RGB colour at least `min_distance` (L2, 0..255 scale) from every colour in `avoid`."""
    best, best_distance = None, -1.0
    for _ in range(30):
        color = rng.uniform(0, 255, size=3)
        distance = min((float(np.linalg.norm(color - other)) for other in avoid), default=1e9)
        if distance >= min_distance:
            return color
        if distance > best_distance:
            best, best_distance = color, distance
    assert best is not None
    return best


def _plan_object(
    rng: np.random.Generator, object_id: int, spec: SyntheticSpec, avoid_colors: list[np.ndarray]
) -> _ObjectPlan:
    size = min(spec.height, spec.width)
    radius = rng.uniform(0.12, 0.22) * size
    speed = rng.uniform(1.8, 4.0) * size / 128
    direction = rng.uniform(0, 2 * np.pi)
    first = _random_color(rng, avoid_colors, 120.0)
    second = _random_color(rng, [*avoid_colors, first], 70.0)
    late = object_id > 1 and rng.random() < spec.late_entry_probability
    appear = int(rng.integers(1, max(2, spec.num_frames // 2))) if late else 0
    return _ObjectPlan(
        object_id=object_id,
        kind=str(rng.choice(SHAPE_KINDS)),
        radius=radius,
        aspect=rng.uniform(0.45, 1.0),
        sides=int(rng.integers(3, 8)),
        inner_ratio=rng.uniform(0.35, 0.6),
        harmonics=np.stack([rng.uniform(0.05, 0.25, 3), rng.integers(2, 6, 3), rng.uniform(0, 2 * np.pi, 3)]),
        colors=np.stack([first, second]),
        texture=str(rng.choice(("stripes", "checker", "rings"))),
        texture_freq=rng.uniform(0.08, 0.2),
        texture_angle=rng.uniform(0, np.pi),
        start=np.array([rng.uniform(radius, spec.width - radius), rng.uniform(radius, spec.height - radius)]),
        velocity=speed * np.array([np.cos(direction), np.sin(direction)]),
        wobble=np.stack([rng.uniform(0, 6, 2), rng.uniform(0.1, 0.4, 2), rng.uniform(0, 2 * np.pi, 2)]),
        angle0=rng.uniform(0, 2 * np.pi),
        angular_velocity=rng.uniform(-0.15, 0.15),
        scale_amplitude=rng.uniform(0.0, 0.3),
        scale_frequency=rng.uniform(0.1, 0.35),
        scale_phase=rng.uniform(0, 2 * np.pi),
        appear_frame=appear,
    )


def _shape_inside(plan: _ObjectPlan, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean H W map of the shape in its own (rotated, unscaled) coordinates."""
    r = plan.radius
    if plan.kind == "ellipse":
        return (u / r) ** 2 + (v / (r * plan.aspect)) ** 2 <= 1.0
    if plan.kind == "rectangle":
        return (np.abs(u) <= r * 0.9) & (np.abs(v) <= r * 0.9 * plan.aspect)
    rho = np.hypot(u, v)
    phi = np.arctan2(v, u)
    if plan.kind == "polygon":
        sector = 2 * np.pi / plan.sides
        edge = r * np.cos(np.pi / plan.sides) / np.cos(np.mod(phi, sector) - np.pi / plan.sides)
    elif plan.kind == "star":
        tooth = np.abs(np.mod(phi * plan.sides / (2 * np.pi), 1.0) * 2 - 1)
        edge = r * (plan.inner_ratio + (1 - plan.inner_ratio) * tooth)
    else:  # blob
        amplitude, frequency, phase = plan.harmonics
        waves = amplitude[:, None, None] * np.sin(frequency[:, None, None] * phi + phase[:, None, None])
        edge = r * (1 + waves.sum(0))
    return rho <= edge


def _shape_texture(plan: _ObjectPlan, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H W 3 float colours of the object's texture (moves and rotates with the object)."""
    cos_a, sin_a = np.cos(plan.texture_angle), np.sin(plan.texture_angle)
    along = u * cos_a + v * sin_a
    across = -u * sin_a + v * cos_a
    f = 2 * np.pi * plan.texture_freq
    if plan.texture == "stripes":
        weight = 0.5 + 0.5 * np.sin(f * along)
    elif plan.texture == "checker":
        weight = (np.sin(f * along) * np.sin(f * across) > 0).astype(np.float32)
    else:
        weight = 0.5 + 0.5 * np.cos(f * np.hypot(u, v))
    first, second = plan.colors
    return first + (second - first) * weight[..., None]


def _object_pose(plan: _ObjectPlan, t: int, spec: SyntheticSpec) -> tuple[float, float, float, float]:
    """Centre x, y, rotation angle and scale of the object at frame t."""
    amplitude, frequency, phase = plan.wobble
    position = plan.start + plan.velocity * t + amplitude * np.sin(frequency * t + phase)
    margin = plan.radius * 0.5
    x = float(_reflect(position[0], margin, spec.width - margin))
    y = float(_reflect(position[1], margin, spec.height - margin))
    angle = plan.angle0 + plan.angular_velocity * t
    scale = 1.0 + plan.scale_amplitude * np.sin(plan.scale_frequency * t + plan.scale_phase)
    return x, y, angle, float(scale)


def _render_video(
    rng: np.random.Generator, spec: SyntheticSpec, grid: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[_ObjectPlan]]:
    """Draw one video: T H W 3 uint8 frames and T H W uint8 index masks."""
    yy, xx = grid
    background_colors = [rng.uniform(0, 255, 3) for _ in range(2)]
    wave_freq = rng.uniform(0.01, 0.06, size=3)
    wave_dir = rng.uniform(0, 2 * np.pi, size=3)
    wave_phase = rng.uniform(0, 2 * np.pi, size=3)
    drift = rng.uniform(-1.5, 1.5, size=2)
    fine_noise = rng.normal(0, 10, size=(spec.height * 2, spec.width * 2, 3)).astype(np.float32)

    num_objects = int(rng.integers(1, spec.max_objects + 1))
    plans: list[_ObjectPlan] = []
    for object_id in range(1, num_objects + 1):
        plans.append(_plan_object(rng, object_id, spec, background_colors))
    depth_order = rng.permutation(num_objects)

    frames = np.empty((spec.num_frames, spec.height, spec.width, 3), dtype=np.uint8)
    masks = np.zeros((spec.num_frames, spec.height, spec.width), dtype=np.uint8)
    for t in range(spec.num_frames):
        bx, by = xx + drift[0] * t, yy + drift[1] * t
        waves = sum(
            np.sin(2 * np.pi * wave_freq[k] * (bx * np.cos(wave_dir[k]) + by * np.sin(wave_dir[k])) + wave_phase[k])
            for k in range(3)
        )
        weight = (0.5 + waves / 6.0)[..., None]
        image = background_colors[0] + (background_colors[1] - background_colors[0]) * weight
        oy, ox = int(round(drift[1] * t)) % spec.height, int(round(drift[0] * t)) % spec.width
        image = image + fine_noise[oy : oy + spec.height, ox : ox + spec.width]
        labels = masks[t]
        for order in depth_order:
            plan = plans[order]
            if t < plan.appear_frame:
                continue
            cx, cy, angle, scale = _object_pose(plan, t, spec)
            dx, dy = (xx - cx) / scale, (yy - cy) / scale
            u = dx * np.cos(angle) + dy * np.sin(angle)
            v = -dx * np.sin(angle) + dy * np.cos(angle)
            inside = _shape_inside(plan, u, v)
            image[inside] = _shape_texture(plan, u[inside], v[inside])
            labels[inside] = plan.object_id
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)
    return frames, masks, plans


def _is_acceptable(masks: np.ndarray, plans: list[_ObjectPlan], min_pixels: int) -> bool:
    """Every object is clearly visible on the frame where it enters (frame 0 for object 1)."""
    for plan in plans:
        if int((masks[plan.appear_frame] == plan.object_id).sum()) < min_pixels:
            return False
    return True


def render_synthetic_video(spec: SyntheticSpec, split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The frames (T H W 3 uint8) and index masks (T H W uint8) of one video; deterministic in its arguments."""
    if split not in _SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(_SPLIT_CODES)}, got {split!r}")
    rng = np.random.default_rng([spec.seed, _SPLIT_CODES[split], index])
    yy, xx = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float32)
    min_pixels = max(16, int(0.004 * spec.height * spec.width))
    for _ in range(50):
        frames, masks, plans = _render_video(rng, spec, (yy, xx))
        if _is_acceptable(masks, plans, min_pixels):
            return frames, masks
    return frames, masks  # pathological sizes only; the last draw is still a valid video


def video_name(split: str, index: int) -> str:
    return f"synth-{split}-{index:04d}"


def _write_video(folder: Path, name: str, frames: np.ndarray, masks: np.ndarray, quality: int) -> None:
    image_dir = folder / "JPEGImages" / "480p" / name
    mask_dir = folder / "Annotations" / "480p" / name
    image_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    for t in range(frames.shape[0]):
        Image.fromarray(frames[t]).save(image_dir / f"{t:05d}.jpg", quality=quality)
        index_mask_image(masks[t]).save(mask_dir / f"{t:05d}.png")  # inside the staging folder: no temporary


def generate_synthetic_davis(
    root: str | Path,
    *,
    seed: int = 0,
    num_train: int = 80,
    num_val: int = 12,
    num_frames: int = 24,
    height: int = 128,
    width: int = 160,
    max_objects: int = 3,
    late_entry_probability: float = 0.35,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a synthetic DAVIS-2017-layout dataset at `root` (replacing a previous synthetic one).

    The tree is built in a temporary sibling folder and renamed into place, so an interrupted run leaves
    nothing half-written. `progress(done, total)` is called after each video. Returns `root`.
    """
    root = Path(root)
    spec = SyntheticSpec(
        seed=seed,
        num_train=num_train,
        num_val=num_val,
        num_frames=num_frames,
        height=height,
        width=width,
        max_objects=max_objects,
        late_entry_probability=late_entry_probability,
    )
    if num_frames < 1 or height < 16 or width < 16 or not 1 <= max_objects <= 255:
        raise DataError(f"data.synthetic_options: invalid sizes {spec}")
    if root.exists() and _read_marker(root) is None and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not a synthetic dataset; refusing to overwrite it")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "ImageSets" / "2017").mkdir(parents=True)
        total = num_train + num_val
        done = 0
        for split, count in (("train", num_train), ("val", num_val)):
            names = []
            for index in range(count):
                frames, masks = render_synthetic_video(spec, split, index)
                name = video_name(split, index)
                _write_video(staging, name, frames, masks, spec.jpeg_quality)
                names.append(name)
                done += 1
                if progress is not None:
                    progress(done, total)
            (staging / "ImageSets" / "2017" / f"{split}.txt").write_text("\n".join(names) + "\n")
        (staging / MARKER_FILE).write_text(json.dumps(asdict(spec), indent=2) + "\n")
        replace_directory(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _read_marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return None


def ensure_synthetic_davis(root: str | Path, **kwargs: object) -> Path:
    """Generate the synthetic dataset at `root` unless one with the same parameters is already there."""
    root = Path(root)
    defaults = asdict(SyntheticSpec())
    unknown = set(kwargs) - set(defaults) - {"progress"}
    if unknown:
        raise TypeError(f"ensure_synthetic_davis: unknown arguments {sorted(unknown)}")
    wanted = {**defaults, **{k: v for k, v in kwargs.items() if k != "progress"}}
    if _read_marker(root) == wanted:
        return root
    return generate_synthetic_davis(root, **kwargs)  # type: ignore[arg-type]

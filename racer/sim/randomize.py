"""Sim-to-real: a camera world that varies like the real one (domain randomisation).

A camera policy trained on racer's plain world sees a perfect painted floor under even light, a
flat gray background and a noiseless pinhole camera that acts at once. A real 1/18 car sees a wide
lens, uneven light, carpet or concrete, barriers and people beside the track, sensor noise,
motion blur, JPEG artefacts (the DeepRacer camera streams MJPEG) and acts a frame or more after
the frame was taken. :class:`Randomizer` varies all of that per episode, seeded and reproducible:

- lighting: brightness (an offset), contrast, gamma; a soft light gradient across the room and
  soft shadow bands across the floor (baked into floor variants, so they lie on the floor);
- floor and road: procedural carpet / concrete / wood surface, road tone, line wear, tape colour
  (a few floor variants per track, built once per process and picked per episode);
- surroundings: a backdrop of walls, barriers, clutter, people-like shapes and lights around the
  car, at a random distance (it hides the floor beyond it and fills the sky);
- camera: pose jitter (pitch, roll, yaw, height), field of view, barrel lens distortion, exposure,
  sensor noise, motion blur, JPEG artefacts;
- actuation: a latency of whole control steps, a steering offset and gain, a speed gain.

:class:`RandomizeConfig` (``[randomize]`` in ``agent.toml``) draws a new world per episode;
:class:`Perturbation` (``racer evaluate --perturb``, ``racer drive --perturb``,
``benchmarks/robustness.py``) fixes named levels. Both yield :class:`EpisodeParams`, and one
:class:`Randomizer` applies them, for one car (:class:`racer.env.RaceEnv`) or many
(:class:`racer.env.RaceVectorEnv`) with the same arithmetic car by car, so the two envs stay
equal frame for frame. A randomised car's episode draws one integer from the car's own generator at
reset, after the env's own draws (everything else comes from a generator seeded with it); a
perturbation or ``enabled = false`` draws nothing, so the env's draws stay the plain world's.

The cheap parts vary per episode continuously (light, exposure, noise, blur, JPEG, actuation);
the costly ones come from small banks built once per process and picked per episode: floor and
backdrop variants (``variants``) and camera geometries (``geometries``: pose, field of view, lens,
backdrop distance: the bank's geometry at the car's step count, so the cars of a vector env,
stepping together, share one or two at a time and render together).

The DeepRacer camera (the numbers :data:`DEEPRACER_CAMERA` documents, with their sources): 160x120
frames after the car's resize, a 120 degree lens, 15 frames per second (one control step per
frame, :data:`racer.contract.car.CONTROL_HZ`), MJPEG from the camera.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from racer.contract.car import CONTROL_HZ, MAX_SPEED_MPS
from racer.errors import ConfigError
from racer.sim.camera import camera_rays
from racer.sim.config import CameraConfig
from racer.sim.texture import BORDER_RGB, CENTER_RGB, ROAD_RGB, FloorTexture, gray_of

#: The real DeepRacer camera as racer models it, and where each number comes from.
DEEPRACER_CAMERA: dict[str, tuple[Any, str]] = {
    "width_px": (
        160,
        "aws-deepracer-camera-pkg camera_node.cpp: DEFAULT_IMAGE_WIDTH 160, frames resized with "
        "cv::resize before publishing",
    ),
    "height_px": (120, "aws-deepracer-camera-pkg camera_node.cpp: DEFAULT_IMAGE_HEIGHT 120"),
    "format": (
        "MJPEG",
        "aws-deepracer-camera-pkg camera_node.cpp: the capture is set to fourcc 'MJPG' "
        "(JPEG-compressed frames: JPEG artefacts are real)",
    ),
    "hfov_deg": (
        120.0,
        "120 degree field of view of the single front camera (AWS DeepRacer course material, "
        "colaberry/DSin100days 'Picking the Ideal Camera Setup'); racer.sim.CameraConfig",
    ),
    "fps": (
        CONTROL_HZ,
        "15 frames per second, one decision per frame: AWS Machine Learning blog 'AWS DeepRacer: "
        "How to master physical racing?' (2024): 160 x 120 8-bit grayscale captured 15 times a "
        "second; racer.contract.car.CONTROL_HZ",
    ),
    "distortion": (
        "not published",
        "the stock lens's distortion coefficients are not published: training randomises a barrel "
        "term over [0, RandomizeConfig.distortion] instead of guessing one value",
    ),
    "latency": (
        "50-100 ms",
        "issue 16's estimate of the real car's frame-to-action delay (0.75-1.5 control periods "
        "at 15 Hz): RandomizeConfig.latency_steps delays commands by whole control steps",
    ),
}

NOISE_BANK = 16  # noise frames per camera size, shared (a car cycles through them)
CHUNK = 8  # cars rendered per numpy pass
PANO_RES_DEG = 0.75  # backdrop texel, degrees (about one camera pixel: 120 deg / 160 px)
PANO_TOP_DEG = 60.0  # backdrop elevation range, degrees above / below the horizon
PANO_BOTTOM_DEG = 15.0
_JPEG_LUMA = np.array(  # the JPEG standard's (ITU-T T.81 Annex K) luminance quantisation table
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
_CACHE_SIZE = 4  # floor-variant sets kept per process


@dataclass
class RandomizeConfig:
    """``[randomize]``: what varies per episode, and how much (each group on/off).

    Ranges are symmetric around the plain world (``x`` means ``[-x, +x]`` or ``[1-x, 1+x]``);
    0 switches one randomisation off. ``enabled = false`` is the plain world, frame for frame.
    """

    enabled: bool = False
    """Randomise the camera world per episode (false: the plain world, frames unchanged)."""
    lighting: bool = True
    """Vary brightness, contrast and gamma per episode."""
    brightness: float = 25.0
    """Offset added to every gray level, up to +-this (0-255 scale)."""
    contrast: float = 0.25
    """Contrast gain about mid-gray, in [1 - this, 1 + this]."""
    gamma: float = 0.3
    """Gamma in [1 / (1 + this), 1 + this] (log-uniform)."""
    texture: bool = True
    """Floor variants: surface texture, road tone, line wear, tape colour, light gradient,
    shadows."""
    variants: int = 4
    """Floor (and backdrop) variants per track, built once per process and picked per episode."""
    floor_noise: float = 0.12
    """Amplitude of the carpet / concrete / wood surface texture, up to this (fraction of 255)."""
    line_wear: float = 0.3
    """Share of the painted lines worn away, up to this."""
    tape_color: float = 0.25
    """Spread of the line and road tones (fraction of their gray level)."""
    gradient: float = 0.25
    """Soft light gradient across the room: light varies by up to +-this from side to side."""
    shadows: int = 3
    """Soft shadow bands across the floor, up to this many per variant."""
    surroundings: bool = True
    """A backdrop of walls, barriers, clutter and people-like shapes around the car."""
    backdrop_near_m: float = 1.5
    """Nearest backdrop distance, m (it hides the floor beyond it)."""
    backdrop_far_m: float = 6.0
    """Farthest backdrop distance, m."""
    camera: bool = True
    """Vary the camera: pose, field of view, lens, exposure, noise, blur, JPEG."""
    geometries: int = 16
    """Camera geometries (pose, field of view, lens, backdrop distance) in the bank; an episode
    takes the one its car's step count is at (a new one every ``geometry_steps``), so the cars
    of a vector env, stepping together, share one or two at a time and render together."""
    geometry_steps: int = 500
    """Control steps per camera geometry of the bank (500: 33 s of driving)."""
    pitch_jitter_deg: float = 2.0
    """Camera pitch offset, up to +-this, degrees."""
    roll_jitter_deg: float = 1.5
    """Camera roll, up to +-this, degrees."""
    yaw_jitter_deg: float = 1.5
    """Camera yaw offset, up to +-this, degrees."""
    height_jitter_m: float = 0.01
    """Camera height offset, up to +-this, m."""
    fov_jitter_deg: float = 6.0
    """Horizontal field of view offset, up to +-this, degrees."""
    distortion: float = 0.3
    """Barrel lens distortion coefficient, in [0, this] (0: a pinhole)."""
    exposure_ev: float = 0.4
    """Exposure offset, up to +-this, stops."""
    noise: float = 5.0
    """Sensor noise standard deviation, up to this, gray levels."""
    blur: float = 0.6
    """Motion blur at top speed, up to this (0: sharp, 1: a 3-pixel vertical smear)."""
    jpeg: float = 0.05
    """Share of episodes with JPEG artefacts (the costliest effect: ~0.2 ms a frame; the car's
    MJPEG is compressed before its 4x resize, so its artefacts at 160x120 are mild)."""
    jpeg_quality: int = 40
    """Lowest JPEG quality of those episodes (up to 95), 1-100."""
    actuation: bool = True
    """Vary the actuation: latency, steering offset and gain, speed gain."""
    latency_steps: int = 1
    """Commands take effect 0 to this many control steps late."""
    steering_offset_deg: float = 2.0
    """Steering offset, up to +-this, degrees."""
    steering_gain: float = 0.1
    """Steering gain in [1 - this, 1 + this]."""
    speed_gain: float = 0.1
    """Speed gain in [1 - this, 1 + this]."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise a one-line :class:`ConfigError` for a value out of range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"randomize.{f.name} must be a number >= 0, got {value!r}")
        for name in ("contrast", "steering_gain", "speed_gain"):
            if getattr(self, name) >= 1.0:
                raise ConfigError(f"randomize.{name} must be < 1, got {getattr(self, name)}")
        if self.jpeg > 1.0:
            raise ConfigError(f"randomize.jpeg must be a share in [0, 1], got {self.jpeg}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(
                f"randomize.jpeg_quality must be in [1, 100], got {self.jpeg_quality}"
            )
        if self.geometry_steps < 1:
            raise ConfigError(f"randomize.geometry_steps must be >= 1, got {self.geometry_steps}")
        if not 1 <= self.variants <= 64 or not 1 <= self.geometries <= 256:
            raise ConfigError(
                "randomize.variants must be in [1, 64] and randomize.geometries in [1, 256], got "
                f"{self.variants} and {self.geometries}"
            )
        if self.backdrop_near_m <= 0.3 or self.backdrop_far_m < self.backdrop_near_m:
            raise ConfigError(
                "randomize.backdrop_near_m must be > 0.3 and <= backdrop_far_m, got "
                f"{self.backdrop_near_m} and {self.backdrop_far_m}"
            )
        if self.latency_steps > 10 or self.shadows > 20 or self.fov_jitter_deg >= 60.0:
            raise ConfigError(
                "randomize: latency_steps must be <= 10, shadows <= 20, fov_jitter_deg < 60"
            )

    def to_dict(self) -> dict[str, Any]:
        """The fields, for TOML."""
        return dataclasses.asdict(self)

    # ------------------------------------------------------------------ sampling
    @property
    def floor_specs(self) -> list[FloorSpec]:
        """The floor variants (seeded by their index: the same in every process)."""
        if not (self.enabled and (self.texture or self.surroundings)):
            return []
        specs = []
        for k in range(self.variants):
            r = np.random.default_rng([16, k])
            specs.append(
                FloorSpec(
                    seed=k,
                    texture=self.texture,
                    surroundings=self.surroundings,
                    kind=str(r.choice(SURFACES)),
                    floor_gray=float(r.uniform(60, 210)),
                    floor_noise=float(r.uniform(0.3, 1.0)) * self.floor_noise,
                    road_gray=float(gray_of(ROAD_RGB)) * float(r.uniform(0.5, 1.8)),
                    line_wear=float(r.uniform(0.0, 1.0)) * self.line_wear,
                    border_gray=float(gray_of(BORDER_RGB)) * (1 - self.tape_color * r.uniform()),
                    center_gray=float(gray_of(CENTER_RGB))
                    * (1 + self.tape_color * r.uniform(-1.0, 0.15)),
                    gradient=float(r.uniform(0.0, 1.0)) * self.gradient,
                    shadows=int(r.integers(0, self.shadows + 1)),
                )
            )
        return specs

    def geometry(self, g: int, base: CameraConfig) -> dict[str, float]:
        """Camera geometry ``g`` of the bank (seeded by its index: the same in every process)."""
        r = np.random.default_rng([16, 4, g])
        u = r.uniform
        out: dict[str, float] = {}
        if self.surroundings:
            out["backdrop_m"] = float(u(self.backdrop_near_m, self.backdrop_far_m))
        if self.camera:
            out["pitch_deg"] = float(u(-self.pitch_jitter_deg, self.pitch_jitter_deg))
            out["roll_deg"] = float(u(-self.roll_jitter_deg, self.roll_jitter_deg))
            out["yaw_deg"] = float(u(-self.yaw_jitter_deg, self.yaw_jitter_deg))
            out["height_m"] = float(u(-self.height_jitter_m, self.height_jitter_m))
            out["fov_deg"] = base.hfov_deg + float(u(-self.fov_jitter_deg, self.fov_jitter_deg))
            out["distortion"] = float(u(0.0, self.distortion))
        return out

    def sample(
        self, rng: np.random.Generator, base: CameraConfig, steps_done: int = 0
    ) -> EpisodeParams:
        """One episode's world, drawn from ``rng`` (see :class:`EpisodeParams`), its camera
        geometry the bank's at ``steps_done`` (the car's control steps so far); nothing is drawn
        when ``enabled`` is false (the env's own draws stay as in the plain world)."""
        if not self.enabled:
            return EpisodeParams()
        p: dict[str, Any] = {"seed": int(rng.integers(2**31))}
        rng = np.random.default_rng([16, 5, p["seed"]])  # the rest from the episode's own
        u = rng.uniform
        if self.enabled:
            if self.lighting:
                p["brightness"] = float(u(-self.brightness, self.brightness))
                p["contrast"] = float(u(1 - self.contrast, 1 + self.contrast))
                g = math.log1p(self.gamma)
                p["gamma"] = float(math.exp(u(-g, g)))
            if self.texture or self.surroundings:
                p["variant"] = int(rng.integers(self.variants))
            if self.surroundings or self.camera:
                turn = steps_done // self.geometry_steps
                order = np.random.default_rng([16, 6, turn // self.geometries])
                g = int(order.permutation(self.geometries)[turn % self.geometries])
                p.update(self.geometry(g, base))
            if self.camera:
                p["exposure_ev"] = float(u(-self.exposure_ev, self.exposure_ev))
                p["noise"] = float(u(0.0, self.noise))
                p["blur"] = float(u(0.0, self.blur))
                if u() < self.jpeg:
                    p["jpeg"] = int(rng.integers(self.jpeg_quality, 96))
            if self.actuation:
                p["latency_steps"] = int(rng.integers(0, self.latency_steps + 1))
                p["steering_offset_deg"] = float(
                    u(-self.steering_offset_deg, self.steering_offset_deg)
                )
                p["steering_gain"] = float(u(1 - self.steering_gain, 1 + self.steering_gain))
                p["speed_gain"] = float(u(1 - self.speed_gain, 1 + self.speed_gain))
        return EpisodeParams(**p)


SURFACES = ("carpet", "concrete", "wood")


@dataclass(frozen=True)
class FloorSpec:
    """One floor (and backdrop) variant: what :func:`build_floor` paints."""

    seed: int
    texture: bool = True
    surroundings: bool = True
    kind: str = "carpet"
    floor_gray: float = 150.0
    floor_noise: float = 0.1
    road_gray: float = 45.0
    line_wear: float = 0.0
    border_gray: float = 245.0
    center_gray: float = 197.0
    gradient: float = 0.0
    shadows: int = 0


@dataclass(frozen=True)
class EpisodeParams:
    """One episode's world: concrete values (the plain world's by default).

    ``variant`` picks a floor/backdrop variant (-1: the plain floor and no backdrop);
    ``backdrop_m`` is the backdrop's distance (inf: none); angles in degrees; ``fov_deg`` 0 keeps
    the camera's own; ``jpeg`` is a quality 1-100 (0: none); ``seed`` drives the noise pattern.
    """

    seed: int = 0
    variant: int = -1
    backdrop_m: float = math.inf
    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0
    exposure_ev: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    yaw_deg: float = 0.0
    height_m: float = 0.0
    fov_deg: float = 0.0
    distortion: float = 0.0
    noise: float = 0.0
    blur: float = 0.0
    jpeg: int = 0
    latency_steps: int = 0
    steering_offset_deg: float = 0.0
    steering_gain: float = 1.0
    speed_gain: float = 1.0

    @property
    def plain_geometry(self) -> bool:
        """The camera's own pose and lens, no backdrop."""
        return (
            self.pitch_deg == 0.0
            and self.roll_deg == 0.0
            and self.yaw_deg == 0.0
            and self.height_m == 0.0
            and self.fov_deg == 0.0
            and self.distortion == 0.0
            and math.isinf(self.backdrop_m)
        )


#: ``--perturb`` names: the EpisodeParams field, what it means, and robustness.py's sweep levels.
PERTURBATIONS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "brightness": ("brightness", "gray-level offset", (-70, -45, 0, 45, 70)),
    "contrast": ("contrast", "contrast gain", (0.4, 0.6, 1.0, 1.5, 1.8)),
    "gamma": ("gamma", "gamma", (0.5, 0.65, 1.0, 1.5, 2.0)),
    "exposure": ("exposure_ev", "exposure, stops", (-1.2, -0.7, 0.0, 0.7, 1.2)),
    "noise": ("noise", "sensor noise std, gray levels", (0, 8, 12, 20)),
    "blur": ("blur", "motion blur at top speed (1: 3-pixel smear)", (0, 1.0, 2.0)),
    "jpeg": ("jpeg", "JPEG quality (0: none)", (0, 30, 20, 10)),
    "latency_steps": ("latency_steps", "command delay, control steps", (0, 1, 2, 3)),
    "steering_offset_deg": ("steering_offset_deg", "steering offset, deg", (-5, -3, 0, 3, 5)),
    "steering_gain": ("steering_gain", "steering gain", (0.7, 0.85, 1.0, 1.15, 1.3)),
    "speed_gain": ("speed_gain", "speed gain", (0.8, 1.0, 1.2)),
    "fov": ("fov_deg", "horizontal field of view, deg", (100, 110, 120, 130, 140)),
    "pitch_deg": ("pitch_deg", "camera pitch offset, deg", (-5, -3, 0, 3, 5)),
    "roll_deg": ("roll_deg", "camera roll, deg", (-4, 0, 4)),
    "height_m": ("height_m", "camera height offset, m", (-0.02, 0.0, 0.02)),
    "distortion": ("distortion", "barrel lens distortion", (0, 0.5, 0.8)),
    "backdrop_m": ("backdrop_m", "backdrop distance, m (inf: none)", (math.inf, 4.0, 1.2)),
    "floor_noise": ("floor_noise", "floor texture amplitude", (0, 0.2, 0.35)),
    "line_wear": ("line_wear", "share of the lines worn away", (0, 0.5, 0.7)),
    "gradient": ("gradient", "light gradient across the room", (0, 0.4, 0.6)),
    "shadows": ("shadows", "shadow bands across the floor", (0, 5, 8)),
}
_FLOOR_PERTURBATIONS = ("floor_noise", "line_wear", "gradient", "shadows")
_INT_FIELDS = {"jpeg", "latency_steps", "shadows"}


@dataclass(frozen=True)
class Perturbation:
    """Fixed, named perturbation levels (``brightness=40,noise=8``): the same every episode.

    Applied by the same :class:`Randomizer` as training's randomisation; an empty one is the
    plain world.
    """

    values: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Perturbation:
        """``NAME=VALUE,...`` (names: :data:`PERTURBATIONS`); a bad one raises ConfigError."""
        values: dict[str, float] = {}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            name, sep, raw = part.partition("=")
            name = name.strip()
            if not sep:
                raise ConfigError(f"bad perturbation {part!r}: use NAME=VALUE (e.g. noise=8)")
            if name not in PERTURBATIONS:
                import difflib

                near = difflib.get_close_matches(name, list(PERTURBATIONS), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ConfigError(
                    f"unknown perturbation {name!r}{hint}: use one of {', '.join(PERTURBATIONS)}"
                )
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(
                    f"perturbation {name}={raw!r}: the value must be a number"
                ) from None
            values[name] = value
        return cls.of(values)

    @classmethod
    def of(cls, values: dict[str, float]) -> Perturbation:
        """From a mapping name -> level (checked)."""
        for name, value in values.items():
            if name not in PERTURBATIONS:
                raise ConfigError(f"unknown perturbation {name!r}")
            _check_level(name, float(value))
        return cls(tuple(sorted((k, float(v)) for k, v in values.items())))

    def __str__(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in self.values) or "none"

    @property
    def floor_specs(self) -> list[FloorSpec]:
        """One floor variant when a floor or backdrop level is set, else none."""
        d = dict(self.values)
        floor = any(k in d for k in _FLOOR_PERTURBATIONS)
        backdrop = math.isfinite(d.get("backdrop_m", math.inf))
        if not (floor or backdrop):
            return []
        return [
            FloorSpec(
                seed=0,
                texture=floor,
                surroundings=backdrop,
                kind="concrete",
                floor_gray=float(gray_of((150, 160, 140))),
                floor_noise=d.get("floor_noise", 0.0),
                road_gray=float(gray_of(ROAD_RGB)),
                line_wear=d.get("line_wear", 0.0),
                border_gray=float(gray_of(BORDER_RGB)),
                center_gray=float(gray_of(CENTER_RGB)),
                gradient=d.get("gradient", 0.0),
                shadows=int(d.get("shadows", 0)),
            )
        ]

    def sample(
        self, rng: np.random.Generator, base: CameraConfig, steps_done: int = 0
    ) -> EpisodeParams:
        """The fixed levels; nothing is drawn from ``rng`` (an evaluation is reproducible)."""
        p: dict[str, Any] = {"seed": 0}
        for name, value in self.values:
            target = PERTURBATIONS[name][0]
            if target in _FLOOR_PERTURBATIONS:
                continue
            p[target] = int(value) if target in _INT_FIELDS else value
        if self.floor_specs:
            p["variant"] = 0
        return EpisodeParams(**p)


def _check_level(name: str, value: float) -> None:
    lo, hi = {
        "contrast": (0.05, 5.0),
        "gamma": (0.1, 10.0),
        "noise": (0.0, 60.0),
        "blur": (0.0, 3.0),
        "jpeg": (0.0, 100.0),
        "latency_steps": (0.0, 10.0),
        "steering_gain": (0.0, 3.0),
        "speed_gain": (0.0, 3.0),
        "fov": (30.0, 170.0),
        "distortion": (0.0, 2.0),
        "backdrop_m": (0.3, math.inf),
        "floor_noise": (0.0, 1.0),
        "line_wear": (0.0, 1.0),
        "gradient": (0.0, 0.9),
        "shadows": (0.0, 20.0),
        "height_m": (-0.09, 0.5),
    }.get(name, (-1e9, 1e9))
    if math.isnan(value) or not lo <= value <= hi:
        raise ConfigError(f"perturbation {name}={value:g} is out of range [{lo:g}, {hi:g}]")
    if name in _INT_FIELDS and value != int(value):
        raise ConfigError(f"perturbation {name}={value:g} must be a whole number")


Source = RandomizeConfig | Perturbation


# ---------------------------------------------------------------------------- floor variants
_floor_cache: OrderedDict[tuple[str, FloorSpec], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_floor_lock = threading.Lock()


def build_floor(texture: FloorTexture, spec: FloorSpec) -> tuple[np.ndarray, np.ndarray]:
    """A floor variant of a painted track and its backdrop (cached per process).

    Returns:
        ``(gray_padded, panorama)``: the floor's gray levels with the one-texel ring of
        :attr:`FloorTexture.gray_padded`, and the backdrop (rows: elevation from
        :data:`PANO_TOP_DEG` down to -:data:`PANO_BOTTOM_DEG`; columns: world azimuth from 0).
    """
    key = (texture.key, spec)
    with _floor_lock:
        hit = _floor_cache.get(key)
        if hit is not None:
            _floor_cache.move_to_end(key)
            return hit
    gray = _paint_floor(texture, spec) if spec.texture else texture.gray_padded
    pano = _paint_backdrop(spec) if spec.surroundings else _flat_backdrop(200)
    with _floor_lock:
        _floor_cache[key] = (gray, pano)
        while len(_floor_cache) > _CACHE_SIZE * 8:
            _floor_cache.popitem(last=False)
    return gray, pano


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Value noise in [-1, 1]: random values every ``cell`` texels, bilinear in between."""
    gh, gw = h // cell + 2, w // cell + 2
    g = rng.uniform(-1.0, 1.0, (gh, gw)).astype(np.float32)
    ys = np.arange(h, dtype=np.float32) / cell
    xs = np.arange(w, dtype=np.float32) / cell
    y0 = ys.astype(np.intp)
    x0 = xs.astype(np.intp)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    top = g[y0][:, x0] * (1 - fx) + g[y0][:, x0 + 1] * fx
    bottom = g[y0 + 1][:, x0] * (1 - fx) + g[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _paint_floor(texture: FloorTexture, spec: FloorSpec) -> np.ndarray:
    rng = np.random.default_rng([16, 1, spec.seed])
    rgb = texture.rgb
    h, w = rgb.shape[:2]
    road = np.all(rgb == np.asarray(ROAD_RGB, np.uint8), axis=-1)
    border = np.all(rgb == np.asarray(BORDER_RGB, np.uint8), axis=-1)
    center = np.all(rgb == np.asarray(CENTER_RGB, np.uint8), axis=-1)
    # work at quarter resolution (2 cm texels at 5 mm): the camera sees no finer grain far out
    q = 4
    hq, wq = -(-h // q), -(-w // q)
    amp = 255.0 * spec.floor_noise
    if spec.kind == "wood":
        along = np.arange(wq, dtype=np.float32)[None, :] * 0.35
        planks = np.sin(along + 3.0 * _smooth_noise(rng, hq, wq, 12)) * 0.6
        surface = planks + 0.4 * _smooth_noise(rng, hq, wq, 2)
    elif spec.kind == "concrete":
        surface = 0.7 * _smooth_noise(rng, hq, wq, 25) + 0.3 * _smooth_noise(rng, hq, wq, 3)
    else:  # carpet: fine fibres over a soft mottle
        surface = 0.35 * _smooth_noise(rng, hq, wq, 15) + 0.65 * rng.uniform(-1, 1, (hq, wq))
    surface32 = np.repeat(np.repeat(surface.astype(np.float32), q, 0), q, 1)[:h, :w]
    out = np.full((h, w), spec.floor_gray, dtype=np.float32)
    out += amp * surface32
    out[road] = spec.road_gray + 0.25 * amp * surface32[road]
    wear = np.repeat(np.repeat(_smooth_noise(rng, hq, wq, 6), q, 0), q, 1)[:h, :w]
    worn = (wear + 1.0) * 0.5 < spec.line_wear
    out[border & ~worn] = spec.border_gray
    out[center & ~worn] = spec.center_gray
    light = np.ones((h, w), dtype=np.float32)
    if spec.gradient > 0:
        a = rng.uniform(0, 2 * math.pi)
        ramp = (
            math.cos(a) * np.linspace(-1, 1, w, dtype=np.float32)[None, :]
            + math.sin(a) * np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        )
        light += spec.gradient * ramp / math.sqrt(2.0)
    for _ in range(spec.shadows):
        a = rng.uniform(0, math.pi)
        c = rng.uniform(0, 1, 2) * (w, h)
        half = rng.uniform(0.05, 0.3) / texture.m_per_px  # 0.1-0.6 m wide band
        soft = max(half * 0.3, 2.0)
        xs = np.arange(w, dtype=np.float32)[None, :] - c[0]
        ys = np.arange(h, dtype=np.float32)[:, None] - c[1]
        d = np.abs(xs * math.sin(a) - ys * math.cos(a))
        inside = np.clip((half - d) / soft, 0.0, 1.0)
        light *= 1.0 - rng.uniform(0.25, 0.5) * inside
    out *= light
    gray = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.pad(gray, 1, mode="edge")


def _flat_backdrop(level: int) -> np.ndarray:
    rows = int(round((PANO_TOP_DEG + PANO_BOTTOM_DEG) / PANO_RES_DEG))
    cols = int(round(360.0 / PANO_RES_DEG))
    return np.full((rows, cols), level, dtype=np.uint8)


def _paint_backdrop(spec: FloorSpec) -> np.ndarray:
    """Walls, a barrier band, clutter, people-like shapes and lights, as seen from the track."""
    rng = np.random.default_rng([16, 2, spec.seed])
    pano = _flat_backdrop(0).astype(np.float32)
    rows, cols = pano.shape
    el = PANO_TOP_DEG - (np.arange(rows) + 0.5) * PANO_RES_DEG  # elevation of each row, deg
    wall = rng.uniform(60, 230)
    pano[:] = wall * (1.0 - 0.004 * np.clip(el, 0, None))[:, None]
    pano += 12.0 * _smooth_noise(rng, rows, cols, 20)
    # windows and ceiling lights: bright rectangles high up
    for _ in range(int(rng.integers(0, 6))):
        c0 = int(rng.integers(cols))
        width = int(rng.integers(8, 60))
        top, bottom = sorted(rng.uniform(8, 50, 2))
        sel = (el > top) & (el < bottom + 4)
        pano[np.ix_(sel, (np.arange(c0, c0 + width) % cols))] = rng.uniform(200, 255)
    # clutter and people: shapes standing on the floor line (elevation ~0 and below)
    for _ in range(int(rng.integers(3, 14))):
        c0 = int(rng.integers(cols))
        person = rng.uniform() < 0.5
        width = int(rng.integers(6, 18) if person else rng.integers(10, 60))
        height = rng.uniform(10, 45) if person else rng.uniform(3, 20)
        tone = rng.uniform(10, 250)
        sel = el < height
        cs = np.arange(c0, c0 + width) % cols
        pano[np.ix_(sel, cs)] = tone
        if person:  # a head above the body
            head = (el >= height) & (el < height + width * PANO_RES_DEG * 0.9)
            pano[np.ix_(head, cs[width // 4 : width - width // 4])] = rng.uniform(40, 200)
    # a barrier band along the bottom (the wall or the track's barriers), sometimes striped
    band = rng.uniform(2, 8)
    sel = el < band
    tone = rng.uniform(20, 250)
    if rng.uniform() < 0.5:
        stripes = ((np.arange(cols) // int(rng.integers(4, 16))) % 2).astype(np.float32)
        pano[sel] = tone * (0.55 + 0.45 * stripes)[None, :]
    else:
        pano[sel] = tone
    return np.clip(np.rint(pano), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- the camera model
def episode_rays(cfg: CameraConfig, p: EpisodeParams) -> tuple[np.ndarray, CameraConfig]:
    """Pixel ray directions (H*W, 3) of an episode's camera in the car frame, and its config.

    The plain geometry returns :func:`racer.sim.camera.camera_rays` unchanged. Otherwise pitch,
    height and field of view shift; a barrel lens maps a pixel at normalised radius r to the
    pinhole ray at ``r (1 + k r^2)`` with the focal length chosen so that the image's width still
    spans ``fov_deg``; roll turns the image plane, yaw turns the camera about the vertical.
    """
    c = dataclasses.replace(
        cfg,
        pitch_deg=cfg.pitch_deg + p.pitch_deg,
        height_m=cfg.height_m + p.height_m,
        hfov_deg=p.fov_deg if p.fov_deg > 0 else cfg.hfov_deg,
    )
    if p.distortion == 0.0 and p.roll_deg == 0.0 and p.yaw_deg == 0.0:
        return camera_rays(c).reshape(-1, 3), c
    w, h = c.width_px, c.height_px
    k = p.distortion
    edge = math.tan(math.radians(c.hfov_deg) / 2)  # pinhole half-width at the image edge
    r = edge
    for _ in range(40):  # Newton: r (1 + k r^2) = edge
        r -= (r * (1 + k * r * r) - edge) / (1 + 3 * k * r * r)
    f = (w / 2) / r
    xd = ((np.arange(w) - w / 2) / f)[None, :]
    yd = ((h / 2 - np.arange(h) - 1.0) / f)[:, None]
    scale = 1.0 + k * (xd * xd + yd * yd)
    xr, yu = xd * scale, yd * scale
    if p.roll_deg:
        a = math.radians(p.roll_deg)
        xr, yu = xr * math.cos(a) - yu * math.sin(a), xr * math.sin(a) + yu * math.cos(a)
    pitch = math.radians(c.pitch_deg)
    fwd = np.array([math.cos(pitch), 0.0, -math.sin(pitch)])
    right = np.array([0.0, -1.0, 0.0])
    up = np.array([math.sin(pitch), 0.0, math.cos(pitch)])
    rays = fwd + xr[..., None] * right + yu[..., None] * up
    if p.yaw_deg:
        a = math.radians(p.yaw_deg)
        x, y = rays[..., 0].copy(), rays[..., 1].copy()
        rays[..., 0] = x * math.cos(a) - y * math.sin(a)
        rays[..., 1] = x * math.sin(a) + y * math.cos(a)
    return rays.reshape(-1, 3), c


def _lut(p: EpisodeParams) -> np.ndarray:
    """Gray level -> gray level: exposure, gamma, contrast about mid-gray, brightness offset."""
    v = np.arange(256, dtype=np.float64) / 255.0
    v = np.clip(v * 2.0**p.exposure_ev, 0.0, 1.0) ** p.gamma
    v = (v - 0.5) * p.contrast + 0.5
    return np.clip(np.rint(v * 255.0 + p.brightness), 0, 255).astype(np.uint8)


def _dct_matrix() -> np.ndarray:
    n = 8
    m = np.zeros((n, n))
    for k in range(n):
        a = math.sqrt((1 if k == 0 else 2) / n)
        for i in range(n):
            m[k, i] = a * math.cos(math.pi * (2 * i + 1) * k / (2 * n))
    return m


_DCT = _dct_matrix().astype(np.float32)


_KRON = np.kron(_DCT, _DCT)  # vec(D B D^T) = (D x D) vec(B), row-major
_KRON_T = np.ascontiguousarray(_KRON.T)
_tables: dict[int, np.ndarray] = {}


def _table(q: int) -> np.ndarray:
    """The quantisation table at quality ``q`` (IJG's scaling), row-major (64,)."""
    t = _tables.get(q)
    if t is None:
        scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
        t = np.clip(np.floor((_JPEG_LUMA * scale + 50.0) / 100.0), 1, 255)
        t = t.reshape(64).astype(np.float32)
        _tables[q] = t
    return t


_CHUNK = 48  # blocks per product: 48 x 64 x 64 stays under OpenBLAS's threading threshold


def _products(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``a @ m`` in chunks small enough for BLAS to run them on this thread (threads fighting
    over a loaded machine's cores cost ~30x here), with the same shapes every call."""
    out = np.empty((a.shape[0], m.shape[1]), dtype=np.float32)
    for lo in range(0, a.shape[0], _CHUNK):
        np.matmul(a[lo : lo + _CHUNK], m, out=out[lo : lo + _CHUNK])
    return out


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """A gray frame through baseline JPEG's lossy step: 8x8 DCT, quantisation, inverse.

    The luminance table of the JPEG standard scaled by ``quality`` as the IJG encoder scales it
    (50 = the table, lower = coarser); edges beyond a multiple of 8 pass unchanged.
    """
    q = min(max(int(quality), 1), 100)
    h, w = img.shape
    bh, bw = h // 8, w // 8
    out = img.copy()
    blocks = img[: bh * 8, : bw * 8].reshape(bh, 8, bw, 8).transpose(0, 2, 1, 3)
    flat = blocks.reshape(bh * bw, 64).astype(np.float32)
    flat -= np.float32(128.0)
    coef = _products(flat, _KRON_T)  # every block's 2-D DCT D B D^T (row-major)
    table = _table(q)
    coef /= table
    np.rint(coef, out=coef)
    coef *= table
    back = _products(coef, _KRON)  # the inverse DCT
    back += np.float32(128.0)
    np.rint(back, out=back)
    np.clip(back, 0, 255, out=back)
    pixels = back.astype(np.uint8).reshape(bh, bw, 8, 8).transpose(0, 2, 1, 3)
    out[: bh * 8, : bw * 8] = pixels.reshape(bh * 8, bw * 8)
    return out


def _noise_bank(n_px: int) -> np.ndarray:
    """NOISE_BANK frames of unit normal noise x 16 (clipped at +-127), int16 (the same everywhere)."""
    rng = np.random.default_rng([16, 3, n_px])
    return np.clip(np.rint(rng.standard_normal((NOISE_BANK, n_px)) * 16.0), -127, 127).astype(
        np.int16
    )


class Randomizer:
    """Per-car episode worlds, their camera frames and their commands (module docstring).

    Args:
        source: a :class:`RandomizeConfig` (drawn per episode) or a :class:`Perturbation` (fixed).
        camera: the camera config (:class:`racer.sim.CameraConfig`).
        texture: the track's painted floor.
        n_cars: cars (slots); RaceEnv has one.
        laterals: sideways offsets of the car's cameras (one: camera; two: stereo), m.
        frames: whether the cars have cameras (False: lidar or state, only the actuation varies).
    """

    def __init__(
        self,
        source: Source,
        camera: CameraConfig,
        texture: FloorTexture,
        n_cars: int = 1,
        laterals: tuple[float, ...] = (0.0,),
        frames: bool = True,
    ) -> None:
        self.source = source
        self.cfg = camera
        self.texture = texture
        self.n_cars = n = int(n_cars)
        self.laterals = tuple(laterals)
        # floors: the plain one first, then the variants; backdrops likewise
        grays = [texture.gray_padded]
        panos = [_flat_backdrop(camera.background_gray)]
        self.frames = frames
        for spec in source.floor_specs if frames else []:
            g, pano = build_floor(texture, spec)
            grays.append(g)
            panos.append(pano)
        self._gw = grays[0].shape[1]
        self._max_ix = grays[0].shape[1] - 1
        self._max_iy = grays[0].shape[0] - 1
        size = grays[0].size
        self._floors = (
            np.concatenate([g.ravel() for g in grays]) if len(grays) > 1 else grays[0].ravel()
        )
        self._floor_off = [i * size for i in range(len(grays))]
        self._pano_shape = panos[0].shape
        # each backdrop twice side by side: a shifted column needs no wrap-around
        panos = [np.concatenate([p, p], axis=1) for p in panos]
        psize = panos[0].size
        self._panos = np.concatenate([p.ravel() for p in panos])
        self._pano_off = [i * psize for i in range(len(panos))]
        self.params: list[EpisodeParams] = [EpisodeParams() for _ in range(n)]
        self._geo = np.zeros(n, dtype=np.intp)  # each car's camera geometry (an id)
        self._geo_ids: dict[tuple[float, ...], int] = {}
        self._tables: list[list[tuple[np.ndarray, ...]]] = []  # by id, then by camera
        self._tex_off = np.zeros(n, dtype=np.intp)
        self._pano_car = np.zeros(n, dtype=np.intp)
        self._luts = np.tile(np.arange(256, dtype=np.uint8), (n, 1))
        self._noise_q = np.zeros(n, dtype=np.int16)
        self._noise_k = np.zeros(n, dtype=np.int64)
        self._bank: np.ndarray | None = None
        self._queue = np.zeros((n, 11, 2))
        self._steps_done = np.zeros(n, dtype=np.int64)  # each car's control steps, all episodes
        for i in range(n):
            self._set_car(i, EpisodeParams())

    # ------------------------------------------------------------------ episodes
    def reset_cars(self, idx: Any, rngs: list[np.random.Generator]) -> None:
        """Draw cars ``idx``'s new episodes, one generator each (one integer drawn from it)."""
        for i, rng in zip(np.asarray(idx, dtype=np.intp).tolist(), rngs, strict=True):
            self._set_car(i, self.source.sample(rng, self.cfg, int(self._steps_done[i])))
            self._queue[i] = 0.0

    def put_back(self, idx: Any) -> None:
        """A car put back at rest: its pending commands are dropped, its world stays."""
        self._queue[np.asarray(idx, dtype=np.intp)] = 0.0

    def _set_car(self, i: int, p: EpisodeParams) -> None:
        self.params[i] = p
        variant = p.variant + 1 if p.variant >= 0 else 0
        variant = min(variant, len(self._floor_off) - 1)
        self._tex_off[i] = self._floor_off[variant]
        self._pano_car[i] = self._pano_off[variant]
        self._luts[i] = _lut(p)
        self._noise_q[i] = min(int(round(p.noise * 4.0)), 256)
        self._noise_k[i] = p.seed % NOISE_BANK
        backdrop = p.backdrop_m if variant > 0 else math.inf
        key = (
            backdrop,
            p.pitch_deg,
            p.roll_deg,
            p.yaw_deg,
            p.height_m,
            p.fov_deg,
            p.distortion,
        )
        gid = self._geo_ids.get(key)
        if gid is None:
            if len(self._tables) >= 4096:  # continuous geometries (a user's own source): bound
                self._geo_ids.clear()
                self._tables.clear()
                for j in range(self.n_cars):
                    if j != i:
                        self._set_car(j, self.params[j])
            gid = len(self._tables)
            self._geo_ids[key] = gid
            laterals = self.laterals if self.frames else ()
            self._tables.append([self._table(p, lat, backdrop) for lat in laterals])
        self._geo[i] = gid

    def _table(self, p: EpisodeParams, lateral: float, backdrop_m: float) -> tuple[np.ndarray, ...]:
        """Floor texels and backdrop cells of every pixel (FloorCamera's arithmetic)."""
        rays, cfg = episode_rays(self.cfg, p)
        down = -rays[:, 2]
        t = np.full(down.shape, np.inf)
        np.divide(cfg.height_m, down, out=t, where=down > 1e-12)
        hit = (t >= cfg.near_m) & (t <= cfg.far_m)
        if math.isfinite(backdrop_m):
            flat = np.hypot(rays[:, 0], rays[:, 1])
            hit &= t * flat <= backdrop_m
        fpix = np.nonzero(hit)[0]
        gx = cfg.forward_m + t[hit] * rays[hit, 0]
        gy = lateral + t[hit] * rays[hit, 1]
        inv = 1.0 / self.texture.m_per_px
        bpix = np.nonzero(~hit)[0]
        r = rays[bpix]
        az = np.arctan2(r[:, 1], r[:, 0])
        el = np.degrees(np.arctan2(r[:, 2], np.hypot(r[:, 0], r[:, 1])))
        rows, cols = self._pano_shape
        row = np.clip(((PANO_TOP_DEG - el) / PANO_RES_DEG).astype(np.intp), 0, rows - 1)
        col = np.floor(np.degrees(az) / PANO_RES_DEG).astype(np.intp) % cols
        gx, gy = gx * inv, gy * inv
        if not p.plain_geometry:  # half the memory traffic; the plain camera stays bit-exact
            gx, gy = gx.astype(np.float32), gy.astype(np.float32)
        return fpix, gx, gy, bpix, row * (2 * cols) + col

    # ------------------------------------------------------------------ frames
    def render(
        self,
        idx: Any,
        x_m: np.ndarray,
        y_m: np.ndarray,
        yaw_rad: np.ndarray,
        speed_mps: Any = None,
        steps: Any = None,
        finish: bool = True,
    ) -> np.ndarray:
        """Cars ``idx``'s frames: (k, cameras, H, W) uint8.

        Cars sharing a camera geometry render together (FloorCamera.render_many's arithmetic,
        elementwise per car), so a car's frame is the same alone or in any batch. ``finish``:
        apply :meth:`finish` (False: the floor and backdrop only, for objects to be drawn over).
        """
        idx = np.asarray(idx, dtype=np.intp).reshape(-1)
        k = idx.size
        nc = len(self.laterals)
        h, w = self.cfg.height_px, self.cfg.width_px
        out = np.empty((k, nc, h, w), dtype=np.uint8)
        if k == 0:
            return out
        x_m = np.asarray(x_m, dtype=np.float64).reshape(-1)
        y_m = np.asarray(y_m, dtype=np.float64).reshape(-1)
        yaw_rad = np.asarray(yaw_rad, dtype=np.float64).reshape(-1)
        geo = self._geo[idx]
        order = None
        if not bool((geo == geo[0]).all()):  # cars sharing a geometry side by side
            order = np.argsort(geo, kind="stable")
            idx, x_m, y_m, yaw_rad = idx[order], x_m[order], y_m[order], yaw_rad[order]
            geo = geo[order]
        yaws = yaw_rad.tolist()
        c_all = np.array([math.cos(a) for a in yaws])[:, None]
        s_all = np.array([math.sin(a) for a in yaws])[:, None]
        tex = self.texture
        inv = 1.0 / tex.m_per_px
        ou_all = ((x_m - tex.x0_m) * inv + 1.0)[:, None]
        ov_all = ((y_m - tex.y0_m) * inv + 1.0)[:, None]
        cols = self._pano_shape[1]
        # the backdrop's column of the car's heading, plus its variant's offset
        shift = np.array(
            [int(math.floor(math.degrees(a) / PANO_RES_DEG)) % cols for a in yaws], dtype=np.intp
        )
        shift = (shift + self._pano_car[idx])[:, None]
        cuts = [0, *(np.flatnonzero(np.diff(geo)) + 1).tolist(), k]
        spans = [  # each geometry's cars, CHUNK at a time (the temporaries stay in cache)
            (lo, min(lo + CHUNK, end))
            for start, end in zip(cuts[:-1], cuts[1:], strict=False)
            for lo in range(start, end, CHUNK)
        ]
        for lo, hi in spans:
            sel = slice(lo, hi)
            gid = int(geo[lo])
            c, s, ou, ov = c_all[sel], s_all[sel], ou_all[sel], ov_all[sel]
            tex_off = self._tex_off[idx[sel]][:, None]
            pano_shift = shift[sel]
            for cam in range(nc):
                fpix, gx, gy, bpix, bbase = self._tables[gid][cam]
                frame = out[sel, cam].reshape(hi - lo, h * w)  # a view: written in place
                if gx.dtype == np.float32:
                    c, s = c.astype(np.float32), s.astype(np.float32)
                    ou, ov = ou.astype(np.float32), ov.astype(np.float32)
                u = gx * c
                u -= gy * s
                u += ou
                v = gx * s
                v += gy * c
                v += ov
                np.clip(u, 0, self._max_ix, out=u)
                np.clip(v, 0, self._max_iy, out=v)
                np.floor(u, out=u)
                np.floor(v, out=v)
                iv = v.astype(np.intp)
                iv *= self._gw
                iv += u.astype(np.intp)
                iv += tex_off
                frame[:, fpix] = self._floors[iv]
                if bpix.size:
                    frame[:, bpix] = self._panos[bbase + pano_shift]
        if order is not None:  # back to the callers' order
            back = np.empty_like(order)
            back[order] = np.arange(k)
            out = out[back]
            idx = idx[back]
        if finish:
            self.finish(out, idx, speed_mps, steps)
        return out

    def finish(self, out: np.ndarray, idx: Any, speed_mps: Any = None, steps: Any = None) -> None:
        """Motion blur, sensor noise, the tone curve (exposure, gamma, contrast, brightness) and
        JPEG, in place on (k, cameras, H, W) frames, each car at its own levels (``speed_mps``
        scales the blur, ``steps`` picks the noise frame)."""
        idx = np.asarray(idx, dtype=np.intp).reshape(-1)
        k, nc, h, w = out.shape
        speed = np.zeros(k) if speed_mps is None else np.asarray(speed_mps, dtype=np.float64)
        steps = np.zeros(k, dtype=np.int64) if steps is None else np.asarray(steps)
        params = [self.params[i] for i in idx.tolist()]
        blur = np.array([p.blur for p in params]) * np.abs(speed.reshape(-1)) / MAX_SPEED_MPS
        # each neighbour's weight in 16ths: 1 = a 3-pixel box (16/3), at most 5
        wq = np.clip(np.rint(blur * 16.0 / 3.0), 0, 5).astype(np.uint16)
        if wq.any():
            sel = np.nonzero(wq)[0]
            img = out[sel].astype(np.uint16)
            wgt = wq[sel][:, None, None, None]
            nb = np.empty_like(img)
            nb[:, :, 1:-1] = img[:, :, :-2] + img[:, :, 2:]
            nb[:, :, 0] = img[:, :, 1] * 2
            nb[:, :, -1] = img[:, :, -2] * 2
            img *= 16 - 2 * wgt
            img += nb * wgt
            img += 8
            img >>= 4
            out[sel] = img.astype(np.uint8)
        flat = out.reshape(k, -1)
        # sensor noise, then the camera's tone curve (exposure, gamma, contrast, brightness)
        nq = self._noise_q[idx]
        rows = np.full(k, -1, dtype=np.intp)
        noisy = None
        if nq.any():
            sel = np.nonzero(nq)[0]
            rows[sel] = np.arange(sel.size)
            if self._bank is None:
                self._bank = _noise_bank(nc * h * w)
            j = (self._noise_k[idx[sel]] + np.asarray(steps).reshape(-1)[sel] * 7) % NOISE_BANK
            noisy = self._bank[j]
            noisy *= nq[sel][:, None]  # at most 127 x 256: fits int16
            noisy >>= 6  # x 16 bank, x 4 levels
            noisy += flat[sel]
            np.clip(noisy, 0, 255, out=noisy)
        for j, i in enumerate(idx.tolist()):
            if rows[j] >= 0:
                assert noisy is not None
                np.take(self._luts[i], noisy[rows[j]], out=flat[j], mode="clip")
            else:
                flat[j] = self._luts[i][flat[j]]
        for j, p in enumerate(params):
            if p.jpeg > 0:
                for cam in range(nc):
                    out[j, cam] = jpeg_roundtrip(out[j, cam], p.jpeg)

    # ------------------------------------------------------------------ commands
    def commands(
        self, idx: Any, steering_deg: np.ndarray, speed_mps: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """What cars ``idx``'s actuators do with this step's commands: the command issued
        ``latency_steps`` steps ago (none yet: stand still), with the steering offset and gain
        and the speed gain."""
        idx = np.asarray(idx, dtype=np.intp)
        steer = np.asarray(steering_deg, dtype=np.float64).reshape(-1)
        speed = np.asarray(speed_mps, dtype=np.float64).reshape(-1)
        params = [self.params[i] for i in idx.tolist()]
        self._steps_done[idx] += 1
        lat = np.array([p.latency_steps for p in params], dtype=np.intp)
        if lat.any():
            q = self._queue[idx]
            q[np.arange(idx.size), lat] = np.stack([steer, speed], axis=1)
            applied = q[:, 0].copy()
            q[:, :-1] = q[:, 1:]
            q[:, -1] = 0.0
            self._queue[idx] = q
            late = lat > 0
            steer = np.where(late, applied[:, 0], steer)
            speed = np.where(late, applied[:, 1], speed)
        gain = np.array([p.steering_gain for p in params])
        off = np.array([p.steering_offset_deg for p in params])
        sgain = np.array([p.speed_gain for p in params])
        return steer * gain + off, speed * sgain


__all__ = [
    "DEEPRACER_CAMERA",
    "PERTURBATIONS",
    "EpisodeParams",
    "FloorSpec",
    "Perturbation",
    "RandomizeConfig",
    "Randomizer",
    "build_floor",
    "episode_rays",
    "jpeg_roundtrip",
]

"""Face landmarks -> Live2D parameters: pure functions plus small stateful filters.

Input contract: ``points`` is a ``(478, 3)`` float array of MediaPipe FaceMesh landmarks with iris refinement
(``refine_landmarks=True``) in **pixels**: x to the image right, y down, z toward the back of the head in the
same pixel scale as x (MediaPipe's normalised ``x * width, y * height, z * width``; see :func:`to_pixels`).
Landmark 33 is the user's right outer eye corner, 263 the user's left; 468 the user's right iris centre,
473 the left one. The image is the camera's frame as captured (not mirrored).

Signs (Live2D standard, DESIGN.md): ParamAngleX + turns the face toward the screen's right, ParamAngleY +
looks up, ParamAngleZ + tilts the head top toward the screen's right, ParamEyeBallX + looks toward the
screen's right, ParamEyeBallY + looks up, ParamMouthForm + smiles. ParamEyeLOpen is the character's left eye.

**Mirroring.** Without mirroring (the default) the character is *you as the camera sees you*: you turn or
tilt toward your own left, the character turns or tilts toward its own left (the screen's right, since it
faces the viewer); you close your left eye, it closes its left eye (ParamEyeLOpen). With ``mirror=True`` the
character is *your reflection*: everything happens as if the camera image were flipped left-right before
tracking, so you tilt toward your left and the character's head goes toward the screen's left, and your left
eye drives ParamEyeROpen.
:func:`mirror_params` applies that flip to finished parameters.

Stages (each a pure function of its inputs, time as an argument where needed):

1. :func:`head_pose` : rotation of a face frame built from rigid landmarks -> yaw/pitch/roll in degrees.
2. :func:`face_features` : pose-normalised measurements (eye openness ratio, iris offset, brow height,
   mouth opening, width and corner lift), invariant to head position and size and mostly to rotation.
3. :class:`FaceSolver` : online calibration (user's own open/closed extremes, neutral brows and mouth),
   One Euro filters, tracking-lost hold-and-ease -> :class:`FaceParams`.

An optional second front end, :func:`features_from_blendshapes`, takes MediaPipe FaceLandmarker blendshape
scores (a user-supplied ``face_landmarker.task``) instead of the landmark heuristics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LANDMARK_COUNT",
    "FaceFeatures",
    "FaceParams",
    "FaceSolver",
    "HeadPose",
    "OneEuroFilter",
    "RangeCalibrator",
    "SolverOptions",
    "TrackingLostPolicy",
    "check_points",
    "face_features",
    "features_from_blendshapes",
    "head_pose",
    "mirror_params",
    "rotation_from_angles",
    "to_pixels",
]

LANDMARK_COUNT = 478

# Symmetric pairs of rigid landmarks (user's right, user's left): eye corners, face oval at temples and
# cheeks, nose wings. They barely move with expressions, so the face frame they span is the head's.
_RIGID_PAIRS = np.array([(33, 263), (133, 362), (127, 356), (234, 454), (93, 323), (98, 327), (64, 294),
                         (21, 251), (162, 389)])
# Midline points above (forehead, glabella) and below (subnasale, nose wings) for the face's vertical axis.
# Their neutral depths are nearly equal in MediaPipe's output, so a level head reads pitch ~0.
_UPPER = np.array([151, 9, 8, 168])
_LOWER = np.array([2, 64, 294])

# Per eye: (outer corner, inner corner, ((upper lid, lower lid) x 3), iris centre, brow points).
_EYES = {
    "right": (33, 133, ((160, 144), (159, 145), (158, 153)), 468, (70, 63, 105, 66, 107)),
    "left": (263, 362, ((387, 373), (386, 374), (385, 380)), 473, (300, 293, 334, 296, 336)),
}
_MOUTH_CORNERS = (61, 291)
_LIP_INNER = (13, 14)  # inner upper lip, inner lower lip
_LIP_OUTER_TOP = 0


def check_points(points: NDArray[np.floating]) -> NDArray[np.float64]:
    """Return ``points`` as a float64 ``(478, 3)`` array, or raise ValueError naming the shape found."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.shape != (LANDMARK_COUNT, 3):
        raise ValueError(
            f"face landmarks: expected a ({LANDMARK_COUNT}, 3) array (FaceMesh with refine_landmarks=True), "
            f"found shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("face landmarks: found NaN or infinite coordinates")
    return arr


def to_pixels(normalized: NDArray[np.floating], width: int, height: int) -> NDArray[np.float64]:
    """MediaPipe's normalised landmarks ``(478, 3)`` -> pixels (z scaled like x, as MediaPipe documents)."""
    arr = np.asarray(normalized, dtype=np.float64)
    return arr * np.array([width, height, width], dtype=np.float64)


# --- 1. head pose ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees, Live2D signs in the unmirrored camera view (see the module docstring).

    ``yaw`` + : the face turns toward the image's right; ``pitch`` + : looks up; ``roll`` + : the head top
    leans toward the image's right. ``rotation`` is the face frame in camera coordinates (x right, y down,
    z away from the camera), columns = face's right-to-left, top-to-chin and front-to-back axes.
    ``origin`` (pixels) and ``scale`` (pixels, eye-corner distance) locate the face.
    """

    yaw: float
    pitch: float
    roll: float
    rotation: NDArray[np.float64] = field(repr=False, compare=False)
    origin: NDArray[np.float64] = field(repr=False, compare=False)
    scale: float = 1.0


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> NDArray[np.float64]:
    """The face-frame rotation whose :func:`head_pose` angles are (yaw, pitch, roll), degrees.

    Composition ``Ry(-yaw) @ Rx(-pitch) @ Rz(roll)`` in camera coordinates (x right, y down, z away):
    the neck turns first, then nods, then tilts. Used by tests to make landmarks with known truth.
    """
    a, b, c = (math.radians(v) for v in (-yaw, -pitch, roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def head_pose(points: NDArray[np.floating]) -> HeadPose:
    """Head yaw/pitch/roll from landmarks in pixels.

    Method: a face frame from rigid landmarks only. The left-right axis is the sum of (left - right) over
    nine symmetric pairs (eye corners, temples, cheeks, nose wings); the vertical axis runs from midline
    forehead points to the subnasale, made orthogonal to the first; the third is their cross product. This
    uses MediaPipe's 3-D landmarks (its z) directly, so it needs no camera intrinsics and no canonical model,
    and expressions (blinks, mouth, brows) do not move it. The frame is decomposed as yaw (about the vertical
    camera axis), then pitch, then roll; see :func:`rotation_from_angles` for the exact inverse.
    """
    p = check_points(points)
    right = p[_RIGID_PAIRS[:, 0]]
    left = p[_RIGID_PAIRS[:, 1]]
    ex = (left - right).sum(axis=0)
    ex /= np.linalg.norm(ex)
    down = p[_LOWER].mean(axis=0) - p[_UPPER].mean(axis=0)
    down -= down.dot(ex) * ex
    norm = np.linalg.norm(down)
    if norm < 1e-9:
        raise ValueError("face landmarks: degenerate face (vertical axis has zero length)")
    ey = down / norm
    ez = np.cross(ex, ey)
    r = np.column_stack([ex, ey, ez])
    # r = Ry(a) Rx(b) Rz(c): r[1,2] = -sin b, r[0,2] = sin a cos b, r[2,2] = cos a cos b,
    # r[1,0] = cos b sin c, r[1,1] = cos b cos c.
    b = math.asin(float(np.clip(-r[1, 2], -1.0, 1.0)))
    a = math.atan2(float(r[0, 2]), float(r[2, 2]))
    c = math.atan2(float(r[1, 0]), float(r[1, 1]))
    origin = 0.5 * (right + left).mean(axis=0)
    scale = float(np.linalg.norm(p[263] - p[33]))
    return HeadPose(yaw=-math.degrees(a), pitch=-math.degrees(b), roll=math.degrees(c),
                    rotation=r, origin=origin, scale=scale)


# --- 2. features ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceFeatures:
    """Pose-normalised face measurements (unitless; lengths divided by the eye-corner distance).

    Per-eye values are keyed by the USER's eye: ``*_left`` is the user's left eye (the character's left eye
    without mirroring). Gaze offsets are in the face frame: x + toward the image's right, y + up.
    """

    head: HeadPose
    eye_ratio_left: float   # lid opening / eye width
    eye_ratio_right: float
    gaze_x: float           # iris offset from the eye centre / eye width, mean of both eyes
    gaze_y: float
    brow_left: float        # brow height above the eye line
    brow_right: float
    mouth_open: float       # inner lip distance
    mouth_width: float      # corner-to-corner distance
    mouth_corners: float    # corner lift above the upper lip's inner point (+ up)
    blendshapes: Mapping[str, float] | None = field(default=None, compare=False)


def face_features(points: NDArray[np.floating], pose: HeadPose | None = None) -> FaceFeatures:
    """Measurements from landmarks in pixels, in the face's own frame (see :func:`head_pose`)."""
    p = check_points(points)
    pose = pose if pose is not None else head_pose(p)
    # Face-frame coordinates: x to the user's left (image right), y down toward the chin, z backwards.
    q = (p - pose.origin) @ pose.rotation / max(pose.scale, 1e-9)

    eyes: dict[str, tuple[float, float, float, float]] = {}
    for side, (outer, inner, lids, iris, brows) in _EYES.items():
        width = float(np.linalg.norm(q[outer] - q[inner]))
        opening = float(np.mean([np.linalg.norm(q[u] - q[d]) for u, d in lids]))
        centre = 0.5 * (q[outer] + q[inner])
        gx = float(q[iris, 0] - centre[0]) / max(width, 1e-9)
        gy = float(centre[1] - q[iris, 1]) / max(width, 1e-9)
        brow = float(centre[1] - np.mean(q[list(brows), 1]))
        eyes[side] = (opening / max(width, 1e-9), gx, gy, brow)

    c_r, c_l = q[_MOUTH_CORNERS[0]], q[_MOUTH_CORNERS[1]]
    up, down = q[_LIP_INNER[0]], q[_LIP_INNER[1]]
    return FaceFeatures(
        head=pose,
        eye_ratio_left=eyes["left"][0],
        eye_ratio_right=eyes["right"][0],
        gaze_x=0.5 * (eyes["left"][1] + eyes["right"][1]),
        gaze_y=0.5 * (eyes["left"][2] + eyes["right"][2]),
        brow_left=eyes["left"][3],
        brow_right=eyes["right"][3],
        mouth_open=float(np.linalg.norm(up - down)),
        mouth_width=float(np.linalg.norm(c_l - c_r)),
        mouth_corners=float(q[_LIP_OUTER_TOP, 1] - 0.5 * (c_l[1] + c_r[1])),
    )


def features_from_blendshapes(scores: Mapping[str, float], pose: HeadPose) -> FaceFeatures:
    """Features from MediaPipe FaceLandmarker blendshape scores (ARKit names, 0..1).

    MediaPipe names sides from the user's point of view (``eyeBlinkLeft`` = the user's left eye) like ARKit.
    The values are mapped into the same units the landmark path produces, so :class:`FaceSolver` treats both
    alike: eye ratio = (1 - blink) * 0.3, brows = 0.25 +/- 0.08, mouth open = jawOpen * 0.6, corners from
    smile - frown.
    """

    def s(name: str) -> float:
        return float(scores.get(name, 0.0))

    def brow(side: str) -> float:
        return 0.25 + 0.08 * (0.5 * (s("browInnerUp") + s(f"browOuterUp{side}")) - s(f"browDown{side}"))

    # The user's left eye looking out (toward the user's left = the image's right) moves the gaze to +x.
    gaze_x = 0.125 * (s("eyeLookOutLeft") - s("eyeLookInLeft") + s("eyeLookInRight") - s("eyeLookOutRight"))
    gaze_y = 0.1 * (s("eyeLookUpLeft") + s("eyeLookUpRight") - s("eyeLookDownLeft") - s("eyeLookDownRight"))
    smile = 0.5 * (s("mouthSmileLeft") + s("mouthSmileRight"))
    frown = 0.5 * (s("mouthFrownLeft") + s("mouthFrownRight"))
    return FaceFeatures(
        head=pose,
        eye_ratio_left=(1.0 - s("eyeBlinkLeft")) * 0.3,
        eye_ratio_right=(1.0 - s("eyeBlinkRight")) * 0.3,
        gaze_x=gaze_x,
        gaze_y=gaze_y,
        brow_left=brow("Left"),
        brow_right=brow("Right"),
        mouth_open=0.6 * s("jawOpen"),
        mouth_width=0.75 + 0.15 * (s("mouthStretchLeft") + s("mouthStretchRight")) * 0.5 + 0.1 * smile
        - 0.15 * s("mouthPucker"),
        mouth_corners=0.1 * (smile - frown),
        blendshapes=dict(scores),
    )


# --- 3. filters and calibration -------------------------------------------------------------------


class OneEuroFilter:
    """The One Euro filter (Casiez, Roussel, Vogel, CHI 2012): little lag when moving, little jitter at rest.

    ``min_cutoff`` (Hz) sets smoothing at rest, ``beta`` how fast the cutoff rises with speed (per unit/s),
    ``d_cutoff`` (Hz) smooths the speed estimate. ``update(x, t)`` takes the value and its time in seconds
    (non-decreasing) and returns the filtered value; the first call returns ``x``.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f"OneEuroFilter: need min_cutoff > 0, d_cutoff > 0, beta >= 0; got "
                             f"{min_cutoff}, {d_cutoff}, {beta}")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._x: float | None = None
        self._dx = 0.0
        self._t = 0.0

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def reset(self) -> None:
        self._x = None
        self._dx = 0.0

    def update(self, x: float, t: float) -> float:
        if self._x is None:
            self._x, self._dx, self._t = float(x), 0.0, t
            return self._x
        dt = t - self._t
        if dt <= 0:
            return self._x
        self._t = t
        dx = (x - self._x) / dt
        self._dx += self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * abs(self._dx)
        self._x += self._alpha(cutoff, dt) * (x - self._x)
        return self._x


class RangeCalibrator:
    """Online estimate of a signal's low and high extremes from its own recent history.

    Keeps the last ``window`` samples; ``low``/``high`` are the ``q_low``/``q_high`` percentiles, refreshed
    every ``every`` samples, blended with the priors until ``warmup`` samples have arrived. ``min_span`` keeps
    low and high apart (relative to ``high``), so a user who has not blinked yet still gets a usable range;
    ``low_max``/``high_min`` bound the extremes where the signal has a physical floor (lips that touch).
    """

    def __init__(self, prior_low: float, prior_high: float, *, q_low: float = 3.0, q_high: float = 90.0,
                 window: int = 900, warmup: int = 90, min_span: float = 0.4, every: int = 8,
                 low_max: float = math.inf, high_min: float = -math.inf) -> None:
        self.prior_low, self.prior_high = prior_low, prior_high
        self.low_max, self.high_min = low_max, high_min
        self.q_low, self.q_high = q_low, q_high
        self.warmup, self.min_span, self.every = warmup, min_span, every
        self._buf = np.zeros(window)
        self._n = 0
        self.low, self.high = prior_low, prior_high

    @property
    def samples(self) -> int:
        return self._n

    def push(self, x: float) -> None:
        self._buf[self._n % len(self._buf)] = x
        self._n += 1
        if self._n % self.every == 0 or self._n <= 2:
            self._refresh()

    def _refresh(self) -> None:
        data = self._buf[: min(self._n, len(self._buf))]
        lo, hi = (float(v) for v in np.percentile(data, [self.q_low, self.q_high]))
        w = min(1.0, self._n / self.warmup)
        hi = w * hi + (1 - w) * self.prior_high
        # The low extreme is only trusted when the signal really went low (a blink); otherwise keep the prior
        # ratio to the high one. Never let the range collapse.
        lo = w * lo + (1 - w) * self.prior_low
        prior_ratio = self.prior_low / self.prior_high if self.prior_high else 0.0
        hi = max(hi, self.high_min)
        lo = min(lo, hi * max(prior_ratio, 1.0 - self.min_span), self.low_max)
        self.low, self.high = lo, hi

    def normalize(self, x: float) -> float:
        """Map x to 0 at ``low`` and 1 at ``high``, clamped."""
        span = self.high - self.low
        if span <= 1e-12:
            return 1.0
        return float(min(1.0, max(0.0, (x - self.low) / span)))


class _Neutral:
    """Slow running median of a signal (its neutral), blended from a prior during warm-up and kept within
    ``max_shift`` of the prior (so a smile held for a minute still reads as a smile)."""

    def __init__(self, prior: float, window: int = 600, warmup: int = 60, every: int = 10,
                 max_shift: float = math.inf) -> None:
        self.value = prior
        self._prior = prior
        self._max_shift = max_shift
        self._buf = np.zeros(window)
        self._n = 0
        self._warmup = warmup
        self._every = every

    def push(self, x: float) -> None:
        self._buf[self._n % len(self._buf)] = x
        self._n += 1
        if self._n % self._every == 0 or self._n <= 2:
            med = float(np.median(self._buf[: min(self._n, len(self._buf))]))
            w = min(1.0, self._n / self._warmup)
            med = min(self._prior + self._max_shift, max(self._prior - self._max_shift, med))
            self.value = w * med + (1 - w) * self._prior


# --- 4. the solver --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceParams:
    """Parameters from one frame, Live2D ids in :meth:`to_params`. ``weight`` is 1 while tracking and eases
    to 0 after the face is lost (a mixer fades the source out with it); ``tracking`` says whether this
    frame saw a face."""

    angle_x: float = 0.0
    angle_y: float = 0.0
    angle_z: float = 0.0
    body_angle_x: float = 0.0
    body_angle_y: float = 0.0
    body_angle_z: float = 0.0
    eye_l_open: float = 1.0
    eye_r_open: float = 1.0
    eye_ball_x: float = 0.0
    eye_ball_y: float = 0.0
    brow_l_y: float = 0.0
    brow_r_y: float = 0.0
    mouth_open_y: float = 0.0
    mouth_form: float = 0.0
    weight: float = 1.0
    tracking: bool = True

    def to_params(self) -> dict[str, float]:
        return {pid: float(getattr(self, attr)) for pid, attr in _PARAM_FIELDS.items()}


_PARAM_FIELDS = {
    "ParamAngleX": "angle_x", "ParamAngleY": "angle_y", "ParamAngleZ": "angle_z",
    "ParamBodyAngleX": "body_angle_x", "ParamBodyAngleY": "body_angle_y", "ParamBodyAngleZ": "body_angle_z",
    "ParamEyeLOpen": "eye_l_open", "ParamEyeROpen": "eye_r_open",
    "ParamEyeBallX": "eye_ball_x", "ParamEyeBallY": "eye_ball_y",
    "ParamBrowLY": "brow_l_y", "ParamBrowRY": "brow_r_y",
    "ParamMouthOpenY": "mouth_open_y", "ParamMouthForm": "mouth_form",
}
_IDLE = FaceParams(weight=0.0, tracking=False)
_RANGES = {  # clamp ranges of FaceParams fields (Live2D standard ranges)
    "angle_x": 30.0, "angle_y": 30.0, "angle_z": 30.0,
    "body_angle_x": 10.0, "body_angle_y": 10.0, "body_angle_z": 10.0,
    "eye_ball_x": 1.0, "eye_ball_y": 1.0, "brow_l_y": 1.0, "brow_r_y": 1.0, "mouth_form": 1.0,
}


def mirror_params(p: FaceParams) -> FaceParams:
    """The same parameters as if the camera image had been flipped left-right (see the module docstring)."""
    return replace(p, angle_x=-p.angle_x, angle_z=-p.angle_z, body_angle_x=-p.body_angle_x,
                   body_angle_z=-p.body_angle_z, eye_ball_x=-p.eye_ball_x,
                   eye_l_open=p.eye_r_open, eye_r_open=p.eye_l_open, brow_l_y=p.brow_r_y, brow_r_y=p.brow_l_y)


class TrackingLostPolicy:
    """When the face disappears: hold the last parameters for ``hold_s``, then ease toward the idle values
    (defaults, weight 0) over ``ease_s`` with a smoothstep. A face coming back takes over at once."""

    def __init__(self, hold_s: float = 0.5, ease_s: float = 1.0) -> None:
        if hold_s < 0 or ease_s <= 0:
            raise ValueError(f"TrackingLostPolicy: need hold_s >= 0 and ease_s > 0, got {hold_s}, {ease_s}")
        self.hold_s, self.ease_s = hold_s, ease_s
        self._last: FaceParams | None = None
        self._lost_at: float | None = None

    def update(self, params: FaceParams | None, t: float) -> FaceParams:
        if params is not None:
            self._last, self._lost_at = params, None
            return params
        if self._last is None:
            return _IDLE
        if self._lost_at is None:
            self._lost_at = t
        k = (t - self._lost_at - self.hold_s) / self.ease_s
        k = min(1.0, max(0.0, k))
        k = k * k * (3 - 2 * k)
        values = {f.name: (1 - k) * getattr(self._last, f.name) + k * getattr(_IDLE, f.name)
                  for f in fields(FaceParams) if f.name not in ("weight", "tracking")}
        return FaceParams(**values, weight=1.0 - k, tracking=False)


@dataclass(frozen=True)
class SolverOptions:
    """Tuning of :class:`FaceSolver` (all gains relative; no absolute pixel thresholds).

    ``body_share``: part of head yaw/pitch/roll (degrees) that flows into ParamBodyAngleX/Y/Z.
    ``gaze_range``: iris offset (fraction of the eye width) that means ParamEyeBall = +/-1.
    ``brow_range``: brow rise (fraction of the eye-corner distance) that means ParamBrow = +/-1.
    ``link_eyes``: when both eyes differ by less than this, both get their mean (steadier); a wink
    differs more.
    """

    mirror: bool = False
    body_share: float = 0.3
    gaze_range: float = 0.12
    brow_range: float = 0.05
    link_eyes: float = 0.15
    form_corner_gain: float = 4.0   # ParamMouthForm per unit of corner lift (eye-corner distances)
    form_width_gain: float = 2.5    # ParamMouthForm per relative widening of the mouth
    hold_s: float = 0.5
    ease_s: float = 1.0
    angle_filter: tuple[float, float] = (1.0, 0.3)     # One Euro (min_cutoff Hz, beta) for degrees
    eye_filter: tuple[float, float] = (4.0, 4.0)       # eyes must not lose blinks
    gaze_filter: tuple[float, float] = (1.5, 2.0)
    brow_filter: tuple[float, float] = (2.0, 2.0)
    mouth_filter: tuple[float, float] = (3.0, 4.0)


class FaceSolver:
    """Frame-by-frame: features (or None when no face) + time -> :class:`FaceParams`.

    Calibration is online: eye openness uses the user's own open and closed extremes (percentiles of the
    recent history, see :class:`RangeCalibrator`), brows and mouth their running neutral. ``calibrate()``
    makes the current head pose the neutral one (the /studio calibration button, or a camera above the screen)
    and restarts the calibrators' history.
    """

    def __init__(self, options: SolverOptions | None = None) -> None:
        self.options = options or SolverOptions()
        self._lost = TrackingLostPolicy(self.options.hold_s, self.options.ease_s)
        self._pose_offset = (0.0, 0.0, 0.0)
        self._calibrate_next = False
        self._last_raw: FaceFeatures | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        o = self.options
        self._eye = {side: RangeCalibrator(0.06, 0.3) for side in ("left", "right")}
        # Lips touch when closed (floor ~0): the closed extreme may only be small; the widest at least 0.45.
        self._mouth_open = RangeCalibrator(0.02, 0.45, q_low=5.0, q_high=99.0, window=1800, warmup=60,
                                           min_span=0.7, low_max=0.06, high_min=0.45)
        self._brow = {side: _Neutral(0.22, max_shift=0.06) for side in ("left", "right")}
        self._gaze = (_Neutral(0.0, window=900, max_shift=0.1), _Neutral(0.05, window=900, max_shift=0.1))
        self._mouth_width = _Neutral(0.58, window=1800, max_shift=0.06)
        self._mouth_corners = _Neutral(-0.04, window=1800, max_shift=0.03)

        def one(cfg: tuple[float, float]) -> OneEuroFilter:
            return OneEuroFilter(cfg[0], cfg[1])

        self._filters = {
            **{k: one(o.angle_filter) for k in ("angle_x", "angle_y", "angle_z")},
            "eye_l_open": one(o.eye_filter), "eye_r_open": one(o.eye_filter),
            "eye_ball_x": one(o.gaze_filter), "eye_ball_y": one(o.gaze_filter),
            "brow_l_y": one(o.brow_filter), "brow_r_y": one(o.brow_filter),
            "mouth_open_y": one(o.mouth_filter), "mouth_form": one(o.mouth_filter),
        }

    def calibrate(self) -> None:
        """Take the next tracked frame's head pose as neutral and restart the expression calibration."""
        self._calibrate_next = True

    @property
    def pose_offset(self) -> tuple[float, float, float]:
        return self._pose_offset

    def update(self, features: FaceFeatures | None, t: float) -> FaceParams:
        if features is None:
            return self._lost.update(None, t)
        o = self.options
        if self._calibrate_next:
            self._calibrate_next = False
            h = features.head
            self._pose_offset = (h.yaw, h.pitch, h.roll)
            self._reset_state()
        yaw = features.head.yaw - self._pose_offset[0]
        pitch = features.head.pitch - self._pose_offset[1]
        roll = features.head.roll - self._pose_offset[2]

        # Eyes: each against its own extremes; close values are linked (steadier), winks are not.
        self._eye["left"].push(features.eye_ratio_left)
        self._eye["right"].push(features.eye_ratio_right)
        el = self._eye["left"].normalize(features.eye_ratio_left)
        er = self._eye["right"].normalize(features.eye_ratio_right)
        if abs(el - er) < o.link_eyes:
            el = er = 0.5 * (el + er)
        # Gaze: offset from the running neutral (people look at their screen most of the time).
        self._gaze[0].push(features.gaze_x)
        self._gaze[1].push(features.gaze_y)
        gx = (features.gaze_x - self._gaze[0].value) / o.gaze_range
        gy = (features.gaze_y - self._gaze[1].value) / o.gaze_range
        # Brows: rise above the running neutral.
        self._brow["left"].push(features.brow_left)
        self._brow["right"].push(features.brow_right)
        bl = (features.brow_left - self._brow["left"].value) / o.brow_range
        br = (features.brow_right - self._brow["right"].value) / o.brow_range
        # Mouth: opening between the user's closed and widest; form from corner lift and width vs neutral.
        self._mouth_open.push(features.mouth_open)
        mo = self._mouth_open.normalize(features.mouth_open)
        self._mouth_width.push(features.mouth_width)
        self._mouth_corners.push(features.mouth_corners)
        form = (o.form_corner_gain * (features.mouth_corners - self._mouth_corners.value)
                + o.form_width_gain * (features.mouth_width / max(self._mouth_width.value, 1e-9) - 1.0))

        raw = {
            "angle_x": yaw, "angle_y": pitch, "angle_z": roll,
            "eye_l_open": el, "eye_r_open": er, "eye_ball_x": gx, "eye_ball_y": gy,
            "brow_l_y": bl, "brow_r_y": br, "mouth_open_y": mo, "mouth_form": form,
        }
        out = {k: self._filters[k].update(v, t) for k, v in raw.items()}
        out["body_angle_x"] = o.body_share * out["angle_x"]
        out["body_angle_y"] = o.body_share * out["angle_y"]
        out["body_angle_z"] = o.body_share * out["angle_z"]
        for k, lim in _RANGES.items():
            out[k] = min(lim, max(-lim, out[k]))
        for k in ("eye_l_open", "eye_r_open", "mouth_open_y"):
            out[k] = min(1.0, max(0.0, out[k]))
        params = FaceParams(**out)  # type: ignore[arg-type]
        if o.mirror:
            params = mirror_params(params)
        return self._lost.update(params, t)

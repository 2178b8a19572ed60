"""Procedural head-and-shoulders portraits: a seed-driven dataset with known factors.

No downloads, no Qt. Every image comes from two seeds:

* a *factor seed* drawn into a :class:`PortraitFactors` (pose, face shape, skin,
  light, hair, eyes, brows, nose, mouth, glasses, background, clothes), the
  coarse and middle "styles" a StyleGAN should disentangle;
* a *detail seed* driving fine stochastic texture only (freckle positions, skin
  grain, hair strands), which is what the per-pixel noise inputs should model.
  The same factors with two detail seeds differ only by small-amplitude texture.

Rendering is plain numpy, vectorised over pixels: smooth masks from (approximate)
signed distances with a one-pixel linear ramp for anti-aliasing, Lambert shading
from a light direction on ellipsoid / cylinder normal maps. Coordinates are
``x`` right and ``y`` down in ``[-1, 1]``; head-local coordinates ``(u, v)`` are
rotated by the head roll about the neck and centred on the head.

Resolutions below 128 are rendered at 128 and area-averaged down; 128 and above
are rendered directly. Any power of two works (32 or more to be useful; tiny sizes
such as 16 serve quick tests of the training loop).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

HAIR_STYLES = ('bald', 'short', 'bob', 'long', 'ponytail', 'curly', 'bun')
NECKLINES = ('round', 'v', 'high')
GLASSES_SHAPES = ('round', 'square')

_SKIN_TONES = np.array([
    (0.99, 0.87, 0.78), (0.95, 0.78, 0.66), (0.87, 0.66, 0.52), (0.76, 0.55, 0.40),
    (0.62, 0.42, 0.29), (0.47, 0.31, 0.21), (0.34, 0.22, 0.15),
], np.float64)
_HAIR_COLORS = [
    ((0.07, 0.06, 0.06), 3.0), ((0.20, 0.13, 0.08), 3.0), ((0.38, 0.24, 0.13), 2.0),
    ((0.58, 0.30, 0.14), 1.0), ((0.82, 0.66, 0.40), 1.5), ((0.93, 0.86, 0.68), 0.6),
    ((0.62, 0.61, 0.60), 0.8), ((0.72, 0.24, 0.10), 0.8), ((0.25, 0.35, 0.75), 0.25),
    ((0.85, 0.35, 0.60), 0.25), ((0.30, 0.62, 0.45), 0.2),
]
_EYE_COLORS = [
    ((0.30, 0.17, 0.08), 4.0), ((0.16, 0.09, 0.05), 2.0), ((0.45, 0.35, 0.15), 1.5),
    ((0.30, 0.50, 0.28), 1.0), ((0.25, 0.48, 0.78), 1.5), ((0.50, 0.58, 0.62), 0.8),
]
_GLASSES_COLORS = [(0.05, 0.05, 0.05), (0.45, 0.25, 0.12), (0.75, 0.62, 0.30),
                   (0.70, 0.72, 0.75), (0.65, 0.10, 0.12), (0.12, 0.25, 0.55)]


@dataclasses.dataclass(frozen=True)
class PortraitFactors:
    """All factor values of one portrait (angles in radians, colours RGB in [0, 1])."""

    yaw: float                      # head turn, + turns toward image right
    pitch: float                    # + looks down
    roll: float                     # in-plane tilt about the neck
    head_x: float                   # head offset from the centre, canvas units
    head_y: float
    head_scale: float               # ~0.9..1.1
    face_width: float               # ~0.85..1.15, horizontal head scale
    jaw: float                      # 0 round/wide jaw .. 1 narrow/pointed chin
    skin_color: tuple               # RGB
    light_azimuth: float            # + light from image right
    light_elevation: float          # + light from above
    light_intensity: float          # diffuse strength
    ambient: float                  # ambient term
    hair_style: str                 # one of HAIR_STYLES
    hair_length: float              # 0..1, length of long/bob/ponytail hair
    hair_color: tuple
    hair_parting: float             # -1..1 parting position
    eye_color: tuple
    eye_size: float                 # ~0.8..1.25
    eye_spacing: float              # eye centre offset, fraction of head half-width
    gaze_x: float                   # -1..1 iris offset
    brow_color: tuple
    brow_thickness: float           # ~0.6..1.6
    brow_arch: float                # 0..1
    brow_tilt: float                # -1..1, + outer ends up
    nose_length: float              # ~0.8..1.2
    nose_width: float               # ~0.8..1.3
    mouth_width: float              # ~0.8..1.25
    smile: float                    # -0.4 (frown) .. 1 (open smile)
    lip_color: tuple
    blush: float                    # 0..1
    freckles: float                 # 0..1 density
    glasses: bool
    glasses_color: tuple
    glasses_shape: str              # one of GLASSES_SHAPES
    bg_color_a: tuple               # background gradient end colours
    bg_color_b: tuple
    bg_angle: float                 # gradient direction
    clothing_color: tuple
    clothing_stripes: bool
    stripe_color: tuple
    neckline: str                   # one of NECKLINES
    shoulder_width: float           # ~0.85..1.15
    skin_texture: float             # 0..1 grain amplitude
    hair_texture: float             # 0..1 strand contrast


def _pick(rng, table):
    weights = np.array([w for _, w in table], np.float64)
    return table[int(rng.choice(len(table), p=weights / weights.sum()))][0]


def _hsv(h, s, v):
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def _rgb(c):
    return tuple(float(min(max(x, 0.0), 1.0)) for x in c)


def sample_factors(seed) -> PortraitFactors:
    """Deterministic factors for ``seed`` (int, or a sequence of ints for SeedSequence)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    u = rng.uniform
    t = u(0, 1) ** 1.25 * (len(_SKIN_TONES) - 1)
    i = min(int(t), len(_SKIN_TONES) - 2)
    skin = _SKIN_TONES[i] * (1 - (t - i)) + _SKIN_TONES[i + 1] * (t - i)
    skin = skin * (1 + rng.normal(0, 0.025, 3))
    hair = np.array(_pick(rng, _HAIR_COLORS)) * u(0.85, 1.15)
    brow = hair * 0.75 if hair.mean() > 0.15 else hair + 0.02
    brow = np.where(hair.mean() > 0.7, np.array(skin) * 0.55, brow)  # platinum/grey -> faint brows
    lip = np.array(skin) * (0.72, 0.48, 0.5) + (0.16, 0.03, 0.05) + rng.normal(0, 0.03, 3)
    bg_h = u(0, 1)
    bg_a = _hsv(bg_h, u(0.1, 0.55), u(0.45, 0.95))
    bg_b = _hsv((bg_h + u(-0.15, 0.15)) % 1.0, u(0.1, 0.6), u(0.25, 0.8))
    cloth = _hsv(u(0, 1), u(0.0, 0.85), u(0.15, 0.9))
    stripe = _hsv(u(0, 1), u(0.0, 0.5), u(0.5, 1.0))
    style = HAIR_STYLES[int(rng.choice(len(HAIR_STYLES), p=[0.07, 0.22, 0.16, 0.22, 0.12, 0.12, 0.09]))]
    return PortraitFactors(
        yaw=float(u(-0.45, 0.45)),
        pitch=float(u(-0.22, 0.22)),
        roll=float(rng.normal(0, 0.08)),
        head_x=float(u(-0.05, 0.05)),
        head_y=float(u(-0.04, 0.04)),
        head_scale=float(u(0.9, 1.08)),
        face_width=float(u(0.86, 1.12)),
        jaw=float(u(0, 1)),
        skin_color=_rgb(skin),
        light_azimuth=float(u(-1.1, 1.1)),
        light_elevation=float(u(-0.1, 0.8)),
        light_intensity=float(u(0.5, 0.8)),
        ambient=float(u(0.42, 0.56)),
        hair_style=style,
        hair_length=float(u(0, 1)),
        hair_color=_rgb(hair),
        hair_parting=float(u(-1, 1)),
        eye_color=_rgb(_pick(rng, _EYE_COLORS)),
        eye_size=float(u(0.8, 1.25)),
        eye_spacing=float(u(0.38, 0.5)),
        gaze_x=float(u(-0.6, 0.6)),
        brow_color=_rgb(brow),
        brow_thickness=float(u(0.6, 1.6)),
        brow_arch=float(u(0, 1)),
        brow_tilt=float(u(-1, 1)),
        nose_length=float(u(0.8, 1.2)),
        nose_width=float(u(0.8, 1.3)),
        mouth_width=float(u(0.8, 1.25)),
        smile=float(u(-0.4, 1.0)),
        lip_color=_rgb(lip),
        blush=float(u(0, 1) ** 2),
        freckles=float(u(0, 1) ** 3 if u(0, 1) < 0.35 else 0.0),
        glasses=bool(u(0, 1) < 0.3),
        glasses_color=_rgb(_GLASSES_COLORS[int(rng.integers(len(_GLASSES_COLORS)))]),
        glasses_shape=GLASSES_SHAPES[int(rng.integers(len(GLASSES_SHAPES)))],
        bg_color_a=_rgb(bg_a),
        bg_color_b=_rgb(bg_b),
        bg_angle=float(u(0, 2 * math.pi)),
        clothing_color=_rgb(cloth),
        clothing_stripes=bool(u(0, 1) < 0.25),
        stripe_color=_rgb(stripe),
        neckline=NECKLINES[int(rng.integers(len(NECKLINES)))],
        shoulder_width=float(u(0.85, 1.15)),
        skin_texture=float(u(0.2, 1.0)),
        hair_texture=float(u(0.3, 1.0)),
    )


# ----------------------------------------------------------------------------
# Geometry shared by the renderer and by tests/metrics (face_layout).

@dataclasses.dataclass(frozen=True)
class _Layout:
    a: float                # head half-width
    b: float                # head half-height
    cx: float               # head centre (canvas)
    cy: float
    pivot_x: float          # roll pivot (top of the neck)
    pivot_y: float
    cos_r: float
    sin_r: float
    eyes: tuple             # ((u, v, half_width, half_height), ...) left, right (local)
    glasses_rx: tuple       # per eye
    glasses_ry: float
    brow_v: float
    nose: tuple             # (u, v) tip
    mouth: tuple            # (u, v, half_width)
    hairline_u: float       # hairline centre u (moves with yaw)

    def to_canvas(self, u, v):
        """Head-local (u, v) -> canvas (x, y)."""
        lu, lv = u, v + (self.cy - self.pivot_y)
        return (self.pivot_x + self.cos_r * lu - self.sin_r * lv,
                self.pivot_y + self.sin_r * lu + self.cos_r * lv)


def _turn(s, angle):
    """Surface point at normalised offset ``s`` after a rotation: (new offset, foreshortening)."""
    th = math.asin(max(-0.99, min(0.99, s)))
    return math.sin(th + angle), max(0.15, math.cos(th + angle)) / math.cos(th)


def _layout(f: PortraitFactors) -> _Layout:
    a = 0.42 * f.head_scale * f.face_width
    b = 0.54 * f.head_scale
    cx, cy = f.head_x, -0.13 + f.head_y
    pivot_x, pivot_y = cx, cy + 0.85 * b
    eye_t, fy = _turn(-0.02, f.pitch)
    eyes, grx = [], []
    ew0 = 0.2 * a * f.eye_size
    for side in (-1, 1):
        s, fx = _turn(side * f.eye_spacing, f.yaw)
        ew = ew0 * fx
        eyes.append((a * s, b * eye_t, ew, 0.5 * ew0 * fy))
        grx.append(1.55 * ew0 * fx)
    brow_t, _ = _turn(-0.2, f.pitch)
    nose_t, _ = _turn(0.3, f.pitch)
    mouth_t, mfy = _turn(0.6, f.pitch)
    ys, _ = _turn(0.0, f.yaw)
    nose = (a * ys * (1 + 0.3 * f.nose_length), b * nose_t + 0.06 * b * math.sin(f.pitch))
    mouth = (a * _turn(0.0, f.yaw)[0] * 0.95, b * mouth_t, 0.3 * a * f.mouth_width * math.cos(f.yaw))
    return _Layout(a=a, b=b, cx=cx, cy=cy, pivot_x=pivot_x, pivot_y=pivot_y,
                   cos_r=math.cos(f.roll), sin_r=math.sin(f.roll), eyes=tuple(eyes),
                   glasses_rx=tuple(grx), glasses_ry=1.2 * ew0 * fy, brow_v=b * brow_t,
                   nose=nose, mouth=mouth, hairline_u=0.8 * a * ys)


def face_layout(factors: PortraitFactors, resolution: int = 128) -> dict:
    """Where things are, in pixel coordinates (x = column, y = row) of an image at ``resolution``.

    ``eyes``: [(x, y), (x, y)] eye centres; ``glasses_extent``: half-height in pixels
    of the band (perpendicular to the eye line) that glasses may cover; ``roll``:
    angle of the eye line; ``head_center``, ``head_axes`` (pixels, before roll).
    """
    L = _layout(factors)
    to_px = lambda x: (x + 1.0) * 0.5 * resolution - 0.5  # noqa: E731 (canvas -> pixel centre)
    eyes = []
    for (u, v, _, _) in L.eyes:
        x, y = L.to_canvas(u, v)
        eyes.append((to_px(x), to_px(y)))
    band = (L.glasses_ry + 0.035) * 0.5 * resolution
    return dict(eyes=eyes, glasses_extent=band, roll=factors.roll,
                head_center=(to_px(L.cx), to_px(L.cy)),
                head_axes=(L.a * 0.5 * resolution, L.b * 0.5 * resolution))


# ----------------------------------------------------------------------------
# Rendering helpers. Arrays are float32; alpha values in [0, 1].

def _aa(d, px):
    """Coverage of a shape with signed distance ``d`` (negative inside), 1-pixel ramp."""
    return np.clip(0.5 - d * (1.0 / px), 0.0, 1.0)


def _ellipse_d(du, dv, ra, rb):
    """Approximate signed distance to an axis-aligned ellipse (first order, accurate near the edge)."""
    qa, qb = du * (1.0 / ra), dv * (1.0 / rb)
    q = qa * qa + qb * qb
    g = np.sqrt((qa * (1.0 / ra)) ** 2 + (qb * (1.0 / rb)) ** 2) * 2.0 + 1e-6
    return (q - 1.0) / g


def _over(dst, alpha, color):
    """dst = dst + alpha * (color - dst), in place; color is RGB or an [..., 3] array."""
    dst += alpha[..., None] * (np.asarray(color, np.float32) - dst)


def _smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _box(L, res, u0, u1, v0, v1):
    """Pixel slices covering the local box [u0, u1] x [v0, v1] (after roll)."""
    xs, ys = [], []
    for u in (u0, u1):
        for v in (v0, v1):
            x, y = L.to_canvas(u, v)
            xs.append(x)
            ys.append(y)
    c0 = max(0, int(math.floor((min(xs) + 1) * 0.5 * res)) - 1)
    c1 = min(res, int(math.ceil((max(xs) + 1) * 0.5 * res)) + 1)
    r0 = max(0, int(math.floor((min(ys) + 1) * 0.5 * res)) - 1)
    r1 = min(res, int(math.ceil((max(ys) + 1) * 0.5 * res)) + 1)
    return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


class _Detail:
    """Fine stochastic texture from the detail seed; draws a fixed amount of randomness."""

    def __init__(self, seed, res):
        rng = np.random.Generator(np.random.PCG64(seed))
        g = rng.standard_normal((res + 1, res + 1), dtype=np.float32)
        self.skin = 0.25 * (g[:-1, :-1] + g[1:, :-1] + g[:-1, 1:] + g[1:, 1:])   # [R, R], ~N(0, 0.5^2)
        self.fine = rng.standard_normal((res, res), dtype=np.float32)             # [R, R]
        self.freckle = rng.random((res, res), dtype=np.float32)                   # [R, R]
        self.strands = rng.standard_normal(513, dtype=np.float32)                 # strand brightness
        self.strands[-1] = self.strands[0]
        self.curl_phase = rng.uniform(0, 2 * math.pi, 2).astype(np.float32)


def _check_resolution(resolution) -> int:
    res = int(resolution)
    if res < 4 or res & (res - 1):
        raise ValueError(f'resolution must be a power of two >= 4, got {resolution}')
    return res


def render_portrait(factors: PortraitFactors, resolution: int = 128, detail_seed=None) -> np.ndarray:
    """Render one portrait: uint8 [H, W, 3]. ``detail_seed`` (default 0) drives fine texture only."""
    res = _check_resolution(resolution)
    work = max(res, 128)
    img = _render(factors, work, 0 if detail_seed is None else detail_seed)
    if work != res:
        k = work // res
        img = img.reshape(res, k, res, k, 3).mean(axis=(1, 3))
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _render(f: PortraitFactors, res: int, detail_seed) -> np.ndarray:
    L = _layout(f)
    D = _Detail(detail_seed, res)
    px = 2.0 / res
    c = (np.arange(res, dtype=np.float32) + 0.5) * px - 1.0
    X, Y = c[None, :], c[:, None]                                                 # [1, R], [R, 1]
    a, b = L.a, L.b

    # Light direction (towards the light), viewer at +z.
    ce = math.cos(f.light_elevation)
    lx, ly, lz = math.sin(f.light_azimuth) * ce, -math.sin(f.light_elevation), math.cos(f.light_azimuth) * ce
    amb, kd = f.ambient, f.light_intensity

    def lambert(nx, ny, nz):
        return amb + kd * np.maximum(nx * lx + ny * ly + nz * lz, 0.0)

    # Background: two-colour gradient + vignette.
    t = (X * math.cos(f.bg_angle) + Y * math.sin(f.bg_angle)) * 0.5 + 0.5              # [R, R]
    ca, cb = np.array(f.bg_color_a, np.float32), np.array(f.bg_color_b, np.float32)
    img = ca + t[..., None] * (cb - ca)
    img *= (1.0 - 0.18 * (X * X + Y * Y))[..., None]

    # Head-local coordinates (roll about the neck).
    dx, dy = X - L.pivot_x, Y - L.pivot_y
    U = L.cos_r * dx + L.sin_r * dy
    V = -L.sin_r * dx + L.cos_r * dy - (L.cy - L.pivot_y)                          # [R, R]

    # Hair silhouette (behind everything but clothes) ------------------------------
    style = f.hair_style
    hair_col = np.array(f.hair_color, np.float32)
    hl = f.hair_length
    hair_alpha = None
    if style != 'bald':
        hs = _box(L, res, -1.62 * a, 1.62 * a, -1.52 * b, (2.0 if style in ('long', 'ponytail') else 0.8) * b)
        Uh, Vh = U[hs], V[hs]
        if style in ('short', 'ponytail', 'bun'):
            hd = _ellipse_d(Uh, Vh + 0.05 * b, a * 1.07, b * 1.06)
            hd = np.maximum(hd, Vh - 0.05 * b)
        elif style == 'bob':
            hd = _ellipse_d(Uh, Vh + 0.04 * b, a * 1.24, b * 1.12)
            hd = np.maximum(hd, Vh - (0.3 + 0.35 * hl) * b)
        elif style == 'long':
            top = _ellipse_d(Uh, Vh + 0.04 * b, a * 1.22, b * 1.1)
            half_w = a * (1.2 + 0.12 * np.clip(Vh / b, 0, 3))
            bottom = (0.9 + 1.0 * hl) * b + 0.03 * b * np.cos(Uh * (9.0 / a))
            side = np.maximum(np.abs(Uh) - half_w, np.maximum(-Vh, Vh - bottom))
            hd = np.minimum(top, side)
        else:  # curly
            ang = np.arctan2(Vh + 0.25 * b, Uh)
            rr = 1.5 * a * (1.0 + 0.045 * np.sin(ang * 11.0 + 3.0 * f.hair_parting))
            hd = np.sqrt(Uh * Uh + (Vh + 0.25 * b) ** 2) - rr
            hd = np.maximum(hd, Vh - (0.35 + 0.3 * hl) * b)
        hair_a = _aa(hd, px)
        if style == 'ponytail':
            side = 1.0 if f.hair_parting >= 0 else -1.0
            pd = _ellipse_d(Uh - side * 1.02 * a, Vh - (0.25 + 0.3 * hl) * b, 0.3 * a, (0.55 + 0.45 * hl) * b)
            hair_a = np.maximum(hair_a, _aa(pd, px))
        elif style == 'bun':
            bd = np.sqrt(Uh * Uh + (Vh + 1.12 * b) ** 2) - 0.36 * a
            hair_a = np.maximum(hair_a, _aa(bd, px))

        # Hair shading: ellipsoid normals + strands radiating from the crown.
        hnx = np.clip(Uh * (1.0 / (1.3 * a)), -1, 1)
        hny = np.clip((Vh + 0.2 * b) * (1.0 / (1.35 * b)), -1, 1) * (Vh < 0.3 * b)
        hnz = np.sqrt(np.maximum(1.0 - hnx * hnx - hny * hny, 0.05))
        hshade = lambert(hnx, hny, hnz)
        spec = np.maximum(hnx * lx + hny * ly + hnz * lz, 0.0) ** 12 * 0.35
        if style == 'curly':
            cu = Uh * (55.0 / a) + D.curl_phase[0]
            cv = Vh * (55.0 / a) + D.curl_phase[1]
            tex = np.sin(cu + np.sin(cv)) * np.sin(cv + np.sin(cu * 0.7)) + 0.5 * D.skin[hs] * 2.0
        else:
            ang = np.arctan2(Uh - L.hairline_u - 0.3 * a * f.hair_parting, -(Vh + 1.3 * b))  # [-pi, pi]
            k = (ang * (1.0 / (2 * math.pi)) + 0.5) * 512.0
            k0 = np.floor(k).astype(np.int32)
            fr = k - k0
            k0 = np.clip(k0, 0, 511)
            tex = D.strands[k0] * (1 - fr) + D.strands[k0 + 1] * fr + 0.35 * D.fine[hs]
        hshade = hshade * (1.0 + 0.12 * f.hair_texture * tex)
        hair_alpha = np.zeros((res, res), np.float32)                          # full frame, box filled
        hair_alpha[hs] = hair_a
        hair_rgb = np.zeros((res, res, 3), np.float32)
        hair_rgb[hs] = hair_col * hshade[..., None] + spec[..., None] * (0.35 + hair_col)

    # Clothes + neck (not rolled; computed on the rows / columns they can cover) ----------
    sw = 0.82 * f.shoulder_width
    sy = L.pivot_y + 0.33
    neck_w = 0.36 * a
    neck_bottom = sy - 0.05
    r0 = min(res, max(0, int((sy - 0.18 + 1.0) * 0.5 * res)))
    Yc = Y[r0:]
    cdx, cdy = X - L.cx, Yc - (sy + 0.82)
    cloth_d = _ellipse_d(cdx, cdy, sw, 0.95)
    if f.neckline == 'round':
        cut = _ellipse_d(X - L.cx, Yc - neck_bottom + 0.02, neck_w * 1.6, 0.13)
        cloth_d = np.maximum(cloth_d, -cut)
    elif f.neckline == 'v':
        vd = (np.abs(X - L.cx) * 0.9 - (neck_bottom + 0.22 - Yc) * 0.45)
        cloth_d = np.maximum(cloth_d, -vd)
    else:  # high collar: cover the neck's lower half
        collar = np.maximum(np.abs(X - L.cx) - neck_w * 1.12, np.abs(Yc - (neck_bottom - 0.02)) - 0.09)
        cloth_d = np.minimum(cloth_d, collar)
    cloth_a = np.zeros((res, res), np.float32)
    cloth_a[r0:] = _aa(cloth_d, px)
    cnx = np.clip(cdx * (1.0 / sw), -1, 1)
    cny = np.clip(cdy * (1.0 / 0.95), -1, 1)
    cnz = np.sqrt(np.maximum(1.0 - cnx * cnx - cny * cny, 0.05))
    cshade = lambert(cnx, cny, cnz)
    cloth_rgb = np.array(f.clothing_color, np.float32) * cshade[..., None]
    if f.clothing_stripes:
        k = 30.0
        st = _aa((0.25 - np.sin((Yc - sy) * k + 0.3 * np.sin(X * 3.0))) * (1.0 / k), px)
        _over(cloth_rgb, np.broadcast_to(st, cshade.shape), np.array(f.stripe_color, np.float32) * cshade[..., None])
    _over(img[r0:], cloth_a[r0:], cloth_rgb)

    if hair_alpha is not None:
        _over(img[hs], hair_alpha[hs], hair_rgb[hs])

    skin = np.array(f.skin_color, np.float32)
    warm = np.array((0.0, 0.07, 0.12), np.float32)

    def skin_rgb(shade):
        # Shadows get warmer (a hint of subsurface scattering).
        return skin * (shade[..., None] * (1.0 - warm * (1.0 - np.minimum(shade, 1.0))[..., None]))

    ns = (slice(max(0, int((L.cy + 1.0) * 0.5 * res)), min(res, int((neck_bottom + 0.08 + 1.0) * 0.5 * res) + 1)),
          slice(max(0, int((L.pivot_x - 1.7 * neck_w + 1.0) * 0.5 * res)),
                min(res, int((L.pivot_x + 1.7 * neck_w + 1.0) * 0.5 * res) + 1)))
    nx_, Yn = X[:, ns[1]] - L.pivot_x, Y[ns[0]]
    neck_d = np.maximum(np.abs(nx_) - neck_w * (1.0 + 0.6 * _smooth((Yn - neck_bottom + 0.08) / 0.12)),
                        np.maximum(L.cy - Yn, Yn - neck_bottom - 0.06))
    neck_a = _aa(neck_d, px) * (1.0 - cloth_a[ns])
    nshade = lambert(np.clip(nx_ / neck_w, -1, 1) * 0.9, 0.0, 0.45)
    chin_y = L.pivot_y + 0.15 * b
    nshade = nshade * (0.55 + 0.45 * _smooth((Yn - chin_y - 0.02 - 0.06 * ly) / 0.14))
    _over(img[ns], neck_a, skin_rgb(nshade))

    # Ears (hidden under hair that covers the sides).
    if style not in ('bob', 'long', 'curly'):
        for side in (-1, 1):
            away = max(0.0, side * math.sin(f.yaw))       # this ear turns away from the viewer
            eu = side * a * (0.93 - 0.35 * away)
            ev = L.eyes[0][1] + 0.12 * b
            ew = 0.16 * a * max(0.3, 1.0 - 2.0 * away)
            rs, cs = _box(L, res, eu - ew - px, eu + ew + px, ev - 0.22 * b, ev + 0.22 * b)
            u, v = U[rs, cs] - eu, V[rs, cs] - ev
            ea = _aa(_ellipse_d(u, v, ew, 0.2 * b), px)
            es = lambert(np.clip(u / ew, -1, 1) * 0.6 + side * 0.5, v / (0.2 * b) * 0.7, 0.6)
            es = es * (1.0 - 0.25 * np.exp(-((u - side * 0.2 * ew) ** 2 / (0.35 * ew) ** 2 + v * v / (0.1 * b) ** 2)))
            _over(img[rs, cs], ea, skin_rgb(es))

    # Head -------------------------------------------------------------------------
    rs, cs = _box(L, res, -1.1 * a, 1.1 * a, -1.05 * b, 1.05 * b)
    u, v = U[rs, cs], V[rs, cs]
    vb = np.clip(v * (1.0 / b), 0.0, 1.0)
    a_v = a * (1.0 - (0.1 + 0.28 * f.jaw) * vb * vb)
    us = u - 0.3 * a * math.sin(f.yaw) * vb * vb
    q = np.sqrt((us / a_v) ** 2 + (v * (1.0 / b)) ** 2)
    head_a = _aa((q - 1.0) * a_v, px)
    hnx = np.clip(us / a_v, -1, 1)
    hny = np.clip(v * (1.0 / b), -1, 1)
    hnz = np.sqrt(np.maximum(1.0 - hnx * hnx - hny * hny, 0.0))
    face = np.broadcast_to(skin, u.shape + (3,)).copy()
    face *= (1.0 + f.skin_texture * 0.035 * D.skin[rs, cs] + 0.012 * f.skin_texture * D.fine[rs, cs])[..., None]
    _draw_face(face, u, v, L, f, D, rs, cs, px, (lx, ly, lz))
    shade = lambert(hnx, hny, hnz)
    spec = np.maximum(hnx * lx + hny * ly + hnz * lz, 0.0) ** 20 * 0.12 * kd
    face = face * (shade[..., None] * (1.0 - warm * (1.0 - np.minimum(shade, 1.0))[..., None])) + spec[..., None]
    _over(img[rs, cs], head_a, face)

    # Hair in front of the head (everything outside the face window).
    if hair_alpha is not None:
        hu = u - L.hairline_u
        if style in ('short', 'ponytail', 'bun'):
            parting = np.exp(-((hu - 0.3 * a * f.hair_parting) / (0.25 * a)) ** 2)
            line = -0.5 * b + 0.45 * b * (hu / a) ** 2 - 0.06 * b * parting
            curtain = 2.0 * a
        elif style == 'bob':
            line = -0.3 * b - 0.025 * b * np.abs(np.cos(hu * (12.0 / a))) + 0.12 * b * (hu / a) ** 2
            curtain = 0.8 * a
        elif style == 'long':
            p = 0.4 * a * f.hair_parting
            line = -0.62 * b + 0.35 * b * np.sqrt((hu - p) ** 2 / a ** 2 + 0.01) + 0.15 * b * (hu / a) ** 2
            curtain = 0.84 * a
        else:  # curly
            line = -0.55 * b + 0.4 * b * (hu / a) ** 2 + 0.03 * b * np.sin(hu * (25.0 / a))
            curtain = 0.9 * a
        win_d = np.maximum(line - v, np.abs(hu) - curtain)
        # Cover a slightly dilated head so no skin-coloured seam shows at the head outline.
        head_cover = _aa((q - 1.0) * a_v - 1.5 * px, px)
        front = head_cover * (1.0 - _aa(win_d, px)) * hair_alpha[rs, cs]
        # Contact shadow on the forehead under the hairline.
        sh = head_a * _aa(win_d - 0.045 * b, px * 3) * (1.0 - front) * 0.25
        sub = img[rs, cs]
        sub *= (1.0 - sh)[..., None]
        _over(sub, front, hair_rgb[rs, cs])

    if f.glasses:
        _draw_glasses(img, U, V, L, f, res, px, (lx, ly, lz))
    return img


def _draw_face(face, u, v, L, f, D, rs, cs, px, light):
    """Facial features drawn into ``face`` (unshaded skin colours) in head-local coordinates."""
    a, b = L.a, L.b
    lx, ly, _ = light
    skin = np.array(f.skin_color, np.float32)

    # Freckles + blush: soft fields over cheeks and nose.
    (ul, ve, _, _), (ur, _, _, _) = L.eyes
    cheek_v = ve + 0.3 * b
    cheeks = (np.exp(-(((u - ul) / (0.25 * a)) ** 2 + ((v - cheek_v) / (0.18 * b)) ** 2))
              + np.exp(-(((u - ur) / (0.25 * a)) ** 2 + ((v - cheek_v) / (0.18 * b)) ** 2)))
    if f.blush > 0:
        _over(face, cheeks * (0.3 * f.blush), (0.9, 0.35, 0.35))
    if f.freckles > 0:
        zone = cheeks + np.exp(-(((u - L.nose[0]) / (0.18 * a)) ** 2 + ((v - cheek_v + 0.05 * b) / (0.12 * b)) ** 2))
        spots = (D.freckle[rs, cs] < 0.2 * f.freckles * np.minimum(zone, 1.0)).astype(np.float32)
        face *= (1.0 - 0.3 * spots)[..., None] * np.array((1.0, 0.94, 0.9), np.float32)

    # Eyes: socket shadow, sclera, iris, pupil, highlight, lid line.
    lash = np.array(f.brow_color, np.float32) * 0.5
    for i, (eu, ev, ew, eh) in enumerate(L.eyes):
        side = -1 if i == 0 else 1
        sl = _sub(u, v, eu, ev, 1.7 * ew, 2.2 * eh + 3 * px, px)
        if sl is None:
            continue
        su, sv, fe = sl[0], sl[1], face[sl[2]]
        du, dv = su - eu, sv - ev
        sock = np.exp(-((du / (1.3 * ew)) ** 2 + ((dv + 0.3 * eh) / (1.6 * eh)) ** 2))
        fe *= (1.0 - 0.16 * sock)[..., None]
        rb = np.where(dv < 0, eh, 0.75 * eh)
        ed = _ellipse_d(du, dv, ew, rb)
        ea = _aa(ed, px)
        _over(fe, ea, (0.96, 0.94, 0.91))
        ir = min(0.104 * L.a * f.eye_size, 1.05 * eh)                  # iris is round: not foreshortened
        iu = eu + 0.35 * ew * f.gaze_x
        di = np.sqrt((su - iu) ** 2 + (dv + 0.1 * eh) ** 2)
        iris_a = _aa(di - ir, px) * ea
        ring = 0.55 + 0.6 * np.clip(1.0 - di / ir, 0, 1)
        _over(fe, iris_a, np.array(f.eye_color, np.float32) * ring[..., None])
        _over(fe, _aa(di - 0.45 * ir, px) * ea, (0.03, 0.03, 0.03))
        hd = np.sqrt((su - iu - 0.35 * ir * (lx + 0.3)) ** 2 + (dv + 0.1 * eh + 0.35 * ir * (0.5 - ly)) ** 2)
        _over(fe, _aa(hd - 0.22 * ir, px) * ea, (1.0, 1.0, 1.0))
        # Upper lid / lashes: band along the top edge, thicker toward the outer corner.
        thick = (0.18 * eh + 0.55 * px) * (1.0 + 0.5 * np.clip(du * side / ew, 0, 1))
        lid = _aa(np.abs(ed + 0.25 * px) - thick, px) * (dv < 0.1 * eh)
        _over(fe, lid, lash)
        low = _aa(np.abs(ed) - 0.3 * px, px) * (dv > 0.2 * eh) * 0.35
        _over(fe, low, skin * 0.55)

        # Eyebrow: tapered arc above the eye.
        bu0 = eu + side * 0.12 * ew
        bw = 1.15 * ew
        sl = _sub(u, v, bu0, L.brow_v, bw + 2 * px, 0.5 * eh + 0.06 * b, px)
        if sl is not None:
            su, sv, fe = sl[0], sl[1], face[sl[2]]
            tt = (su - bu0) / bw
            outer = np.clip(tt * side * 0.5 + 0.5, 0, 1)
            curve = L.brow_v - 0.28 * bw * f.brow_arch * (1 - tt * tt) - 0.22 * bw * f.brow_tilt * (outer - 0.5)
            th = (0.018 + 0.02 * f.brow_thickness) * a * (1.0 - 0.55 * outer) * 0.5 + 0.3 * px
            ba = _aa(np.abs(sv - curve) - th, px) * np.clip((1.0 - np.abs(tt)) * bw / px + 0.5, 0, 1)
            _over(fe, ba * 0.92, f.brow_color)

    # Nose: side shadow away from the light, nostrils, tip highlight, shadow below.
    nu, nv = L.nose
    nw = 0.15 * a * f.nose_width
    top = ve + 0.05 * b
    sl = _sub(u, v, nu, (top + nv) / 2, 2.5 * nw, (nv - top) / 2 + 0.12 * b, px)
    if sl is not None:
        su, sv, fe = sl[0], sl[1], face[sl[2]]
        along = _smooth((sv - top) / max(nv - top, 1e-3))
        bridge_u = (nu * along + (L.eyes[0][0] + L.eyes[1][0]) / 2 * (1 - along))
        sd = -1.0 if lx >= 0 else 1.0
        band = np.exp(-((su - bridge_u - sd * 0.55 * nw) / (0.35 * nw)) ** 2) * along * (sv < nv + 0.02 * b)
        fe *= (1.0 - (0.12 + 0.25 * abs(lx)) * band)[..., None]
        wing = np.exp(-(((np.abs(su - nu) - 0.75 * nw) / (0.3 * nw)) ** 2 + ((sv - nv) / (0.07 * b)) ** 2))
        fe *= (1.0 - 0.18 * wing)[..., None]
        under = np.exp(-(((su - nu + 0.3 * lx * nw) / (0.9 * nw)) ** 2 + ((sv - nv - 0.07 * b) / (0.04 * b)) ** 2))
        fe *= (1.0 - 0.25 * under)[..., None]
        for s in (-1, 1):
            nd = _ellipse_d(su - nu - s * 0.42 * nw, sv - nv - 0.035 * b, 0.2 * nw, 0.09 * nw + 0.4 * px)
            _over(fe, _aa(nd, px) * 0.7, skin * 0.3)
        tip = np.exp(-(((su - nu - 0.3 * lx * nw) / (0.4 * nw)) ** 2 + ((sv - nv + 0.02 * b) / (0.05 * b)) ** 2))
        _over(fe, tip * 0.18, (1.0, 1.0, 1.0))

    # Mouth: lips around a smile curve, open with teeth for big smiles.
    mu, mv, mw = L.mouth
    sl = _sub(u, v, mu, mv, mw + 2 * px, 0.14 * b + 0.5 * mw, px)
    if sl is not None:
        su, sv, fe = sl[0], sl[1], face[sl[2]]
        tt = (su - mu) / mw
        env = np.clip(1.0 - tt * tt, 0.0, 1.0)
        curve = mv - 0.28 * mw * f.smile * (tt * tt - 0.3)
        gap = 0.16 * mw * max(0.0, f.smile - 0.5) * 2.0 * np.sqrt(env)
        up = curve - gap - (0.17 * mw) * np.sqrt(env) * (1.0 - 0.3 * np.exp(-(tt / 0.18) ** 2))
        lo = curve + gap + (0.24 * mw) * np.sqrt(env)
        inside = (np.clip(np.minimum(sv - up, lo - sv) / px + 0.5, 0, 1)
                  * np.clip((1 - np.abs(tt)) * mw / px + 0.5, 0, 1))
        lip = np.array(f.lip_color, np.float32)
        lip_rgb = lip * np.where(sv < curve, 0.82, 1.0)[..., None].astype(np.float32)
        lower_hl = np.exp(-((sv - curve - gap - 0.13 * mw) / (0.05 * mw)) ** 2 - (tt / 0.5) ** 2) * 0.12
        lip_rgb = lip_rgb + lower_hl[..., None]
        _over(fe, inside, lip_rgb)
        if f.smile > 0.5:
            open_a = np.clip((gap - np.abs(sv - curve)) / px + 0.5, 0, 1) * (env > 0)
            teeth = np.where(sv < curve + 0.2 * gap, 1.0, 0.0).astype(np.float32)
            mcol = np.array((0.35, 0.08, 0.08), np.float32) + teeth[..., None] * np.array((0.55, 0.8, 0.8), np.float32)
            _over(fe, open_a, mcol)
        line = _aa(np.abs(sv - curve) - 0.25 * px - gap, px) * np.clip((1.05 - np.abs(tt)) * mw / px, 0, 1) * 0.6
        _over(fe, line, lip * 0.35)
        # Corners and the shadow under the lower lip.
        chin_sh = np.exp(-(((sv - curve - gap - 0.34 * mw) / (0.07 * mw)) ** 2 + (tt / 0.6) ** 2))
        fe *= (1.0 - 0.15 * chin_sh)[..., None]


def _sub(u, v, cu, cv, hu, hv, px):
    """Rows/cols of the (u, v) sub-grid inside a local box, as views; None when empty."""
    m = (np.abs(u - cu) <= hu + px) & (np.abs(v - cv) <= hv + px)
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return None
    sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return u[sl], v[sl], sl


def _draw_glasses(img, U, V, L, f, res, px, light):
    lx, ly, _ = light
    (ul, ve, _, _), (ur, _, _, _) = L.eyes
    ry = L.glasses_ry
    rs, cs = _box(L, res, -1.05 * L.a, 1.05 * L.a, ve - ry - 0.03, ve + ry + 0.03)
    u, v = U[rs, cs], V[rs, cs]
    sub = img[rs, cs]
    th = 0.011 + 0.5 * px
    frame_d = None
    lens_a = None
    for (eu, _, _, _), rx in zip(L.eyes, L.glasses_rx):
        du, dv = (u - eu) / rx, (v - ve + 0.1 * ry) / ry
        if f.glasses_shape == 'round':
            r = np.sqrt(du * du + dv * dv)
        else:
            d2 = du * du
            e2 = dv * dv
            r = np.sqrt(np.sqrt(d2 * d2 + e2 * e2))
        d = (r - 1.0) * min(rx, ry)
        la = _aa(d, px)
        lens_a = la if lens_a is None else np.maximum(lens_a, la)
        ring = np.abs(d) - th
        frame_d = ring if frame_d is None else np.minimum(frame_d, ring)
    # Bridge between the lenses and temples to the head's edge, at the upper third.
    bv = ve - 0.35 * ry
    lo, hi = min(ul, ur), max(ul, ur)
    inner = (lo + L.glasses_rx[0] * 0.9, hi - L.glasses_rx[1] * 0.9)
    bridge = np.maximum(np.abs(v - bv + 0.02 * np.cos((u - (inner[0] + inner[1]) / 2) * 20.0)) - th * 0.8,
                        np.maximum(inner[0] - u, u - inner[1]))
    temple_v = ve - 0.45 * ry
    t_l = np.maximum(np.abs(v - temple_v) - th * 0.7, np.maximum(-1.0 * L.a - u, u - (lo - L.glasses_rx[0] * 0.95)))
    t_r = np.maximum(np.abs(v - temple_v) - th * 0.7, np.maximum(u - 1.0 * L.a, (hi + L.glasses_rx[1] * 0.95) - u))
    frame_d = np.minimum(frame_d, np.minimum(bridge, np.minimum(t_l, t_r)))
    # Lenses: a light tint and a diagonal reflection streak.
    streak = np.exp(-(((u - v * 0.8) * (1.0 / (0.25 * ry)) - 0.6 * lx) % 4.0 - 2.0) ** 2) * 0.22
    _over(sub, lens_a * (0.1 + streak), (0.92, 0.95, 1.0))
    fa = _aa(frame_d, px)
    fcol = np.array(f.glasses_color, np.float32)
    shade = 0.75 + 0.35 * np.clip(-(v - ve) / ry * 0.5 * (0.5 - ly), -0.4, 1.0)
    _over(sub, fa, fcol * shade[..., None] + 0.08)


# ----------------------------------------------------------------------------
# Dataset

class SyntheticPortraits:
    """An unconditional image dataset of procedural portraits, generated on the fly.

    Item ``i`` is fully determined by ``(seed, i)``: factors from one seed stream,
    fine detail from another. ``__getitem__`` returns ``(uint8 [3, H, W], float32 [0])``
    like the training datasets; ``batch(start, n)`` gives a torch uint8 ``[n, 3, H, W]``.
    ``length=None`` means 100,000 items (about FFHQ's size; indices beyond it also work).
    """

    name = 'synthetic'
    default_length = 100_000

    def __init__(self, resolution=128, seed=0, length=None):
        self.resolution = _check_resolution(resolution)
        self.seed = int(seed)
        self.length = self.default_length if length is None else int(length)

    # Dataset metadata, in the shape the training loop and NVIDIA's datasets use.
    num_channels = 3
    has_labels = False
    label_dim = 0
    label_shape = [0]

    @property
    def image_shape(self):
        return [3, self.resolution, self.resolution]

    def __len__(self):
        return self.length

    def _seeds(self, i):
        i = int(i)
        if i < 0:
            i += self.length
        if i < 0:
            raise IndexError(i)
        ss = np.random.SeedSequence([self.seed, i])
        fs, ds = ss.generate_state(2)
        return int(fs), int(ds)

    def factors(self, i) -> PortraitFactors:
        return sample_factors(self._seeds(i)[0])

    def image(self, i) -> np.ndarray:
        """uint8 [H, W, 3]."""
        fs, ds = self._seeds(i)
        return render_portrait(sample_factors(fs), self.resolution, detail_seed=ds)

    def __getitem__(self, i):
        if not -self.length <= int(i) < self.length:
            raise IndexError(f'index {i} out of range for {self.length} portraits')
        return np.ascontiguousarray(self.image(i).transpose(2, 0, 1)), np.zeros([0], np.float32)

    def get_label(self, i):
        return np.zeros([0], np.float32)

    def batch(self, start, n):
        """torch uint8 [n, 3, H, W] of items start .. start + n - 1 (indices may exceed len)."""
        import torch
        out = np.empty((n, 3, self.resolution, self.resolution), np.uint8)
        for k in range(n):
            out[k] = self.image(start + k).transpose(2, 0, 1)
        return torch.from_numpy(out)

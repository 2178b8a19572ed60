"""An attribute regressor: a small CNN that reads the factors of a procedural portrait.

The default model was trained on ``SyntheticPortraits``, whose every image comes with the
factors that drew it (head yaw, smile, glasses, hair length, skin tone, light direction ...).
A CNN trained on those portraits, factors as labels, can then label images the *generator*
makes, and labelled latents give named directions in W (``explorer.engine.directions``).

Every factor is predicted in normalised units: (value - mean) / std over the training
portraits. Binary factors (glasses) are a logit during training; ``predict`` reports them as
``P(yes) / std`` minus ``mean / std`` so that they share those units (a change of 1 is one
standard deviation of the label, as for the scores).

Weights are saved in the project's format (plain tensors, lists and strings) and read back
with ``torch.load(weights_only=True)``: no pickled objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explorer.engine.atomic import atomic_write
from explorer.errors import UserError

FORMAT_NAME = 'stylegan-explorer-attributes'
FORMAT_VERSION = 1
MAX_FILE_BYTES = 16 << 20   # an attribute file is a few hundred kB; refuse anything absurd
RESOLUTION = 64             # input size of the regressor (the default model's resolution)

Progress = Callable[[int, int, str], None]


# ---------------------------------------------------------------------- factors
def _luma(rgb) -> float:
    r, g, b = rgb
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# How far down the hair reaches, in head half-heights below the head centre, per style
# (the silhouettes drawn by ``synthetic._render``): the visible length, not the ``hair_length``
# factor alone, which short crops, buns and bald heads ignore.
def visible_hair_length(f) -> float:
    hl = f.hair_length
    return {
        'bald': -1.0,
        'short': 0.05,
        'bun': 0.05,
        'bob': 0.3 + 0.35 * hl,
        'curly': 0.35 + 0.3 * hl,
        'ponytail': 0.8 + 0.75 * hl,
        'long': 0.9 + 1.0 * hl,
    }[f.hair_style]


@dataclass(frozen=True)
class Factor:
    name: str           # shown on sliders
    kind: str           # 'score' (regression) or 'binary' (classification)
    meaning: str        # what + means
    value: Callable     # PortraitFactors -> float


FACTORS = (
    Factor('yaw', 'score', 'head turned to the image right', lambda f: f.yaw),
    Factor('pitch', 'score', 'head tilted up/down', lambda f: f.pitch),
    Factor('roll', 'score', 'head rolled (clockwise in the image)', lambda f: f.roll),
    Factor('smile', 'score', 'frown (-) to open smile (+)', lambda f: f.smile),
    Factor('glasses', 'binary', 'wears glasses', lambda f: float(f.glasses)),
    Factor('hair length', 'score', 'how far down the hair reaches', visible_hair_length),
    Factor('skin tone', 'score', 'skin luminance (dark - to light +)', lambda f: _luma(f.skin_color)),
    Factor('hair colour', 'score', 'hair luminance (dark - to light +)', lambda f: _luma(f.hair_color)),
    Factor('light', 'score', 'light azimuth (from the image left - to the right +)', lambda f: f.light_azimuth),
    Factor('eye size', 'score', 'eye size', lambda f: f.eye_size),
)
FACTOR_NAMES = tuple(f.name for f in FACTORS)


def factor_values(factors, names: Sequence[str] = FACTOR_NAMES) -> np.ndarray:
    """[len(names)] float64 label vector of one ``PortraitFactors``."""
    table = {f.name: f for f in FACTORS}
    return np.array([table[n].value(factors) for n in names], dtype=np.float64)


# ---------------------------------------------------------------------- network
class AttributeRegressor(nn.Module):
    """[N, 3, 64, 64] images in [-1, 1] -> [N, num_outputs] raw outputs (normalised scores;
    logits for binary factors). Four stages of conv + strided conv (batch norm, leaky ReLU),
    64 -> 4 px, then two linear layers."""

    def __init__(self,
                 num_outputs: int,                  # one per factor
                 channels: Sequence[int] = (16, 32, 48, 64),  # per stage, 32/16/8/4 px
                 hidden: int = 96,                  # width of the linear layer
                 ):
        super().__init__()
        self.num_outputs = int(num_outputs)
        self.channels = tuple(int(c) for c in channels)
        self.hidden = int(hidden)
        layers, cin = [], 3
        for c in self.channels:
            layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2),
                       nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]
            cin = c
        self.features = nn.Sequential(*layers)
        side = RESOLUTION >> len(self.channels)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, self.hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(self.hidden, self.num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4 and x.shape[1:] == (3, RESOLUTION, RESOLUTION), \
            f'expected [N, 3, {RESOLUTION}, {RESOLUTION}], got {list(x.shape)}'
        return self.head(self.features(x))


@dataclass
class AttributeModel:
    """A trained regressor with the label statistics it was trained on."""
    net: AttributeRegressor
    names: tuple                # factor names, one per output
    kinds: tuple                # 'score' | 'binary' per output
    mean: np.ndarray            # [K] label mean over the training portraits
    std: np.ndarray             # [K] label std
    info: dict                  # how it was trained, held-out quality (plain JSON-able values)

    def index(self, name: str) -> int:
        if name not in self.names:
            raise UserError(f'the attribute model has no factor "{name}" (it has {", ".join(self.names)})')
        return self.names.index(name)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch: int = 256) -> np.ndarray:
        """[N, 3, 64, 64] float images in about [-1, 1] (generator output) or uint8 ->
        [N, K] float64 in normalised units (binary factors: (P - mean) / std)."""
        self.net.eval()
        out = []
        for i in range(0, images.shape[0], batch):
            x = to_input(images[i:i + batch])
            y = self.net(x).double().cpu().numpy()
            out.append(y)
        y = np.concatenate(out) if out else np.zeros([0, len(self.names)])
        for k, kind in enumerate(self.kinds):
            if kind == 'binary':
                p = 1.0 / (1.0 + np.exp(-y[:, k]))
                y[:, k] = (p - self.mean[k]) / self.std[k]
        return y

    def to_units(self, y: np.ndarray) -> np.ndarray:
        """Normalised predictions -> the factors' own units (binary: probability)."""
        return np.asarray(y) * self.std + self.mean

    # -------------------------------------------------------------- files
    def save(self, path) -> Path:
        path = Path(path)
        record = {
            'format': FORMAT_NAME, 'version': FORMAT_VERSION,
            'config': {'num_outputs': self.net.num_outputs, 'channels': list(self.net.channels),
                       'hidden': self.net.hidden},
            'names': list(self.names), 'kinds': list(self.kinds),
            'mean': torch.tensor(self.mean, dtype=torch.float64), 'std': torch.tensor(self.std, dtype=torch.float64),
            'state': {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            'info': self.info,
        }
        atomic_write(path, lambda f: torch.save(record, f), suffix='.pt')
        return path

    @classmethod
    def load(cls, path) -> AttributeModel:
        path = Path(path)
        if not path.is_file():
            raise UserError(f'{path}: no such attribute model')
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UserError(f'{path}: {path.stat().st_size} bytes is too large for an attribute model')
        try:
            rec = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as e:
            raise UserError(f'{path}: not a readable attribute model ({e.__class__.__name__})') from e
        if not isinstance(rec, dict) or rec.get('format') != FORMAT_NAME:
            raise UserError(f'{path}: not a {FORMAT_NAME} file')
        if rec.get('version') != FORMAT_VERSION:
            raise UserError(f'{path}: format version {rec.get("version")} (this build reads {FORMAT_VERSION})')
        cfg = rec['config']
        names, kinds = tuple(str(n) for n in rec['names']), tuple(str(k) for k in rec['kinds'])
        num = int(cfg['num_outputs'])
        channels = [int(c) for c in cfg['channels']]
        if not (len(names) == len(kinds) == num and 1 <= num <= 256 and 1 <= len(channels) <= 6
                and all(1 <= c <= 1024 for c in channels) and 1 <= int(cfg['hidden']) <= 4096):
            raise UserError(f'{path}: inconsistent attribute model config')
        with torch.device('meta'):
            net = AttributeRegressor(num, channels, int(cfg['hidden']))
        expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        state = rec['state']
        got = {k: tuple(v.shape) for k, v in state.items()}
        if expected != got:
            raise UserError(f'{path}: weights do not match the stored config')
        net = AttributeRegressor(num, channels, int(cfg['hidden']))
        net.load_state_dict(state)
        mean, std = rec['mean'].double().numpy(), rec['std'].double().numpy()
        if mean.shape != (num,) or std.shape != (num,) or not (std > 0).all():
            raise UserError(f'{path}: bad label statistics')
        return cls(net=net.eval().requires_grad_(False), names=names, kinds=kinds, mean=mean, std=std,
                   info=dict(rec.get('info', {})))


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, H, W] (0..255) or float (about [-1, 1]) -> float32 [N, 3, 64, 64] in [-1, 1]."""
    x = images
    if x.dtype == torch.uint8:
        x = x.float() * (2.0 / 255.0) - 1.0
    x = x.float().clamp(-1.0, 1.0)
    if x.shape[-1] != RESOLUTION:
        x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode='area' if x.shape[-1] > RESOLUTION else 'bilinear',
                          align_corners=None if x.shape[-1] > RESOLUTION else False)
    return x


def default_attributes_path(checkpoint_path) -> Path:
    """``checkpoints/portraits64_attributes.pt`` beside ``checkpoints/portraits64.pt``."""
    p = Path(checkpoint_path)
    return p.with_name(p.stem + '_attributes.pt')


# ---------------------------------------------------------------------- data
def portrait_set(n: int, seed: int, start: int = 0, names: Sequence[str] = FACTOR_NAMES,
                 progress: Progress | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` procedural portraits at 64 px: uint8 [n, 3, 64, 64] and labels [n, K] float64."""
    from explorer.training.synthetic import SyntheticPortraits
    ds = SyntheticPortraits(RESOLUTION, seed=seed)
    images = np.empty([n, 3, RESOLUTION, RESOLUTION], np.uint8)
    labels = np.empty([n, len(names)], np.float64)
    for k in range(n):
        images[k] = ds.image(start + k).transpose(2, 0, 1)
        labels[k] = factor_values(ds.factors(start + k), names)
        if progress is not None and (k + 1) % 500 == 0:
            progress(k + 1, n, 'rendering portraits')
    return torch.from_numpy(images), labels


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Make the portraits look a little more like a small GAN's output: random Gaussian blur
    (sigma 0..1 px, per image), a little pixel noise, and a horizontal shift of up to 1 px.
    None of these changes any factor."""
    n = x.shape[0]
    sigma = torch.rand([n], generator=gen) * 1.0
    r = 2
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)       # [n, 5]
    k = k / k.sum(1, keepdim=True)
    xp = F.pad(x, (r, r, r, r), mode='replicate')                                 # [n, 3, 68, 68]
    # separable blur with a per-image kernel: grouped conv over n*3 channels
    xp = xp.reshape(1, n * 3, *xp.shape[2:])
    kh = k.repeat_interleave(3, 0)[:, None, None, :]                              # [n*3, 1, 1, 5]
    kv = k.repeat_interleave(3, 0)[:, None, :, None]                              # [n*3, 1, 5, 1]
    y = F.conv2d(F.conv2d(xp, kh, groups=n * 3), kv, groups=n * 3).reshape(n, 3, *x.shape[2:])
    y = y + torch.randn(y.shape, generator=gen) * 0.02
    shift = torch.randint(-1, 2, [n], generator=gen)
    y = torch.stack([torch.roll(y[i], int(shift[i]), dims=2) for i in range(n)])
    return y.clamp(-1, 1)


def train_regressor(images: torch.Tensor, labels: np.ndarray, names: Sequence[str] = FACTOR_NAMES,
                    epochs: int = 12, batch: int = 64, lr: float = 2e-3, seed: int = 0,
                    augment: bool = True, progress: Progress | None = None,
                    channels: Sequence[int] = (16, 32, 48, 64), hidden: int = 96) -> AttributeModel:
    """Fit an ``AttributeRegressor`` on uint8 portraits [N, 3, 64, 64] with label rows [N, K]:
    mean squared error on the normalised scores, binary cross-entropy on binary factors; Adam
    with a cosine learning-rate decay. Deterministic for a given seed and thread count."""
    table = {f.name: f for f in FACTORS}
    names = tuple(names)
    kinds = tuple(table[n].kind for n in names)
    labels = np.asarray(labels, dtype=np.float64)
    if images.shape[0] != labels.shape[0] or labels.shape[1] != len(names):
        raise UserError(f'{images.shape[0]} images but labels {list(labels.shape)} for {len(names)} factors')
    mean, std = labels.mean(0), labels.std(0) + 1e-12
    target = torch.from_numpy(np.where(np.array(kinds) == 'binary', labels, (labels - mean) / std)).float()
    is_bin = torch.tensor([k == 'binary' for k in kinds])
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        net = AttributeRegressor(len(names), channels, hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = images.shape[0]
    steps = epochs * math.ceil(n / batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    step = 0
    net.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            x = to_input(images[idx])
            if augment:
                x = _augment(x, gen)
            y = net(x)
            t = target[idx]
            mse = F.mse_loss(y[:, ~is_bin], t[:, ~is_bin]) if (~is_bin).any() else y.sum() * 0
            bce = F.binary_cross_entropy_with_logits(y[:, is_bin], t[:, is_bin]) if is_bin.any() else y.sum() * 0
            loss = mse + bce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if progress is not None and step % 50 == 0:
                progress(step, steps, f'training regressor (loss {loss.item():.3f})')
    net.eval().requires_grad_(False)
    return AttributeModel(net=net, names=names, kinds=kinds, mean=mean, std=std,
                          info={'train_images': int(n), 'epochs': int(epochs), 'batch': int(batch), 'lr': float(lr),
                                    'seed': int(seed), 'augment': bool(augment)})


def evaluate(model: AttributeModel, images: torch.Tensor, labels: np.ndarray) -> dict:
    """Held-out quality per factor: R^2 for scores, accuracy (threshold 0.5) for binary factors."""
    pred = model.to_units(model.predict(images))
    out = {}
    for k, (name, kind) in enumerate(zip(model.names, model.kinds)):
        y = np.asarray(labels)[:, k]
        if kind == 'binary':
            out[name] = {'metric': 'accuracy', 'value': float(((pred[:, k] > 0.5) == (y > 0.5)).mean())}
        else:
            ss_res = float(((pred[:, k] - y) ** 2).sum())
            ss_tot = float(((y - y.mean()) ** 2).sum())
            out[name] = {'metric': 'R^2', 'value': 1.0 - ss_res / max(ss_tot, 1e-30)}
    return out


# ---------------------------------------------------------------------- measuring edits
SWEEP_SIGMAS = (-3, -2, -1, 0, 1, 2, 3)


@torch.no_grad()
def render_ws(G, ws: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """[N, num_ws, w_dim] -> float images [N, C, H, W] (const noise), batch by batch, on the CPU."""
    out = []
    for i in range(0, ws.shape[0], batch):
        out.append(G.synthesis(ws[i:i + batch], noise_mode='const').float().cpu())
    return torch.cat(out)


@torch.no_grad()
def sweep_predictions(G, model: AttributeModel, ws: torch.Tensor, direction, step: float,
                      layers: Sequence[int], sigmas: Sequence[float] = SWEEP_SIGMAS) -> np.ndarray:
    """Predicted factors along an edit: [len(sigmas), N, K] for ``ws`` [N, num_ws, w_dim] moved by
    ``sigma * step * direction`` on ``layers`` (the DESIGN edit rule)."""
    from explorer.engine.directions import apply_edit
    edited = torch.cat([apply_edit(ws, direction, float(s) * float(step), layers) for s in sigmas])
    pred = model.predict(render_ws(G, edited))
    return pred.reshape(len(sigmas), ws.shape[0], -1)


@dataclass(frozen=True)
class EditEffect:
    """How an edit moves the regressor's factors (normalised units, over the sweep)."""
    target: str
    change: np.ndarray          # [K] mean over images and amounts of |y(a) - y(0)| per factor
    mean_curve: np.ndarray      # [len(sigmas)] mean prediction of the target factor per amount
    monotone_fraction: float    # share of images whose target prediction never decreases (within tol)
    mean_violation: float       # largest decrease of the mean curve between neighbouring amounts (0 = monotone)
    names: tuple

    @property
    def target_change(self) -> float:
        return float(self.change[self.names.index(self.target)])

    @property
    def others_change(self) -> float:
        k = self.names.index(self.target)
        return float(np.delete(self.change, k).mean())

    @property
    def ratio(self) -> float:
        return self.target_change / max(self.others_change, 1e-12)

    @property
    def worst_other(self) -> tuple[str, float]:
        k = self.names.index(self.target)
        rest = [(n, float(c)) for i, (n, c) in enumerate(zip(self.names, self.change)) if i != k]
        return max(rest, key=lambda t: t[1])


def edit_effect(pred: np.ndarray, names: Sequence[str], target: str, sigmas: Sequence[float] = SWEEP_SIGMAS,
                tol: float = 0.05) -> EditEffect:
    """Summarise ``sweep_predictions`` output [A, N, K] for the factor ``target``."""
    names = tuple(names)
    sigmas = list(sigmas)
    zero = sigmas.index(0)
    k = names.index(target)
    change = np.abs(pred - pred[zero:zero + 1]).mean(axis=(0, 1))               # [K]
    order = np.argsort(sigmas)
    curve_per_image = pred[order, :, k]                                          # [A, N]
    steps = np.diff(curve_per_image, axis=0)
    monotone = float((steps >= -tol).all(axis=0).mean())
    mean_curve = curve_per_image.mean(1)
    violation = float(max(0.0, -np.diff(mean_curve).min()))
    return EditEffect(target=target, change=change, mean_curve=mean_curve, monotone_fraction=monotone,
                      mean_violation=violation, names=names)

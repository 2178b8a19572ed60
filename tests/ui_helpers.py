"""Shared helpers for the GUI tests (fake engine, tiny checkpoint, window fixture bits)."""

from __future__ import annotations

import threading
import time

import numpy as np

from explorer.engine.session import ModelInfo

LABELS = ('4x4 conv', '8x8 up', '8x8 conv', '16x16 up', '16x16 conv', '16x16 torgb')


def fake_info(name='fake.pt', num_ws=6):
    return ModelInfo(path=f'/tmp/{name}', name=name, sha256='0' * 64, family='fake', resolution=8, channels=3,
                     num_ws=num_ws, z_dim=4, w_dim=4, c_dim=0, layer_labels=LABELS[:num_ws],
                     layer_has_noise=(True,) * (num_ws - 1) + (False,),
                     groups=(('coarse', (0, 1, 2)), ('middle', (3, 4, 5)), ('fine', ()), ('all', tuple(range(num_ws)))),
                     placeholder=False, device='CPU (fake)')


class FakeEngine:
    """A ``RenderSession`` that renders a frame whose first pixel encodes the seed; can block on a lock."""

    def __init__(self):
        self.gate = threading.Lock()        # held by a test to block render()
        self.started = threading.Event()    # set when render() is entered
        self.rendered = []                  # recipes, in order
        self.render_kwargs = []             # the worker's keyword arguments (path, dtype, max_ms), in order
        self.interrupts = []                # the 'interrupt' callable of each render (None: interactive)
        self.fail_load = None               # message to raise from load()
        self.fail_render = None
        self.fail_directions = None         # message to raise from compute_directions()
        self.frame_delay = 0.0              # seconds animation_frame() sleeps (a slow engine)
        self.animation_frames = []          # frame indices animation_frame() rendered, in order
        self.inspected = []                 # (recipe, layer, options) per inspect(), in order
        self.animation_exports = []         # (path, synthesis) per export_animation(), in order

    def load(self, path, progress=None, sha256=None):
        if self.fail_load:
            from explorer.errors import CheckpointError
            raise CheckpointError(path, self.fail_load)
        return fake_info(name=str(path or 'fake.pt').split('/')[-1])

    def render(self, recipe, interrupt=None, **kw):
        self.interrupts.append(interrupt)
        self.started.set()
        with self.gate:
            if interrupt is not None and interrupt():
                from explorer.engine.progress import Cancelled
                raise Cancelled()       # as the real engine does between layers
            self.rendered.append(recipe)
            self.render_kwargs.append(kw)
            if self.fail_render:
                raise RuntimeError(self.fail_render)
            img = np.zeros((8, 8, 3), np.uint8)
            img[0, 0, 0] = recipe.seeds[0] % 256
            return img, {'total_ms': 1.0, 'mapping_ms': 0.5}

    def render_noise_detail(self, recipe):
        image, timings = self.render(recipe, path='exact')
        return np.zeros_like(image), image, timings

    def render_grid_iter(self, spec, interrupt=None):
        return iter(())

    def batch_export(self, seeds, outdir, recipe, progress=None, upscale=1, options=None):
        return []

    def export_png(self, path, recipe, recipe_dict=None, upscale=1, options=None):
        from explorer.engine.image_export import write_image
        image, _ = self.render(recipe, path='exact')
        if options is not None and options.bits == 16:
            image = image.astype(np.uint16) * 257
        return write_image(path, image, recipe_dict, upscale=upscale, options=options)

    def load_state(self, record):
        from explorer.errors import CheckpointError
        raise CheckpointError('<training>', 'the fake engine takes no training weights')

    def compute_directions(self, method, layers=None, num=10, samples=20_000, progress=None):
        """An orthonormal set in the fake's 4-d W (seeded), with one progress call per 1000 samples."""
        from explorer.engine.direction_set import DirectionSet
        if self.fail_directions:
            from explorer.errors import UserError
            raise UserError(self.fail_directions)
        steps = max(1, samples // 1000) if method == 'pca' else 1
        for i in range(steps):
            if progress is not None:
                progress(i + 1, steps, 'sampling w')
        q, _ = np.linalg.qr(np.random.RandomState(0).randn(4, 4))
        k = max(1, min(int(num), 4))
        return DirectionSet(directions=q.T[:k].astype(np.float32), layers=tuple(layers or range(6)), method=method,
                            names=tuple(f'{method} {i}' for i in range(k)), num_ws=6, checkpoint_sha256='0' * 64,
                            std=np.full(k, 0.5))

    def measure_std(self, directions, progress=None):
        return np.full(len(directions), 0.5)

    def label_gallery(self, seeds, psi, progress=None):
        """w = a seeded random 4-vector per seed times psi; each thumbnail's first pixel encodes the seed."""
        seeds = tuple(int(s) for s in seeds)
        w = np.stack([np.random.RandomState(s).randn(4) * psi for s in seeds]).astype(np.float32)
        thumbs = []
        for s in seeds:
            img = np.zeros((8, 8, 3), np.uint8)
            img[0, 0, 0] = s % 256
            thumbs.append(img)
        return seeds, w, thumbs

    def fit_label_direction(self, w, labels, condition_on=(), progress=None):
        from explorer.engine.directions import fit_direction
        return fit_direction(w, labels, condition_on), 0.5

    def animation_frame(self, anim, i, path='auto'):
        """Frame ``i`` of ``anim``: first pixel = i % 256, after ``frame_delay`` seconds."""
        import time
        time.sleep(self.frame_delay)
        self.animation_frames.append(int(i))
        img = np.zeros((8, 8, 3), np.uint8)
        img[0, 0, 0] = int(i) % 256
        return img, {'total_ms': self.frame_delay * 1e3, 'path': 'exact', 'frame': int(i)}

    def export_animation(self, anim, out, scale=1, resample='lanczos', quality=None, path='exact',
                         progress=None, cancel=None, synthesis='auto'):
        """Write ``anim.num_frames`` fake frames through the real writers (temp file, then rename)."""
        from explorer.engine import video_writers as vw
        from explorer.engine.progress import Cancelled
        self.animation_exports.append((path, synthesis))
        writer = vw.open_writer(out, anim.fps, scale=scale, metadata=anim.to_json())
        n = anim.num_frames
        with writer:
            for i in range(n):
                if cancel is not None and cancel():
                    raise Cancelled()
                writer.write(self.animation_frame(anim, i)[0])
                if progress is not None:
                    progress(i + 1, n, '')
        return writer.path

    def drag(self, recipe, handles, targets, mask=None, steps=200, on_step=None, cancel=None, image_every=0):
        """Each step moves every handle one pixel toward its target (no optimisation); records its
        arguments in ``self.drags``; the ws encode the step count."""
        from explorer.engine.drag import DragResult, DragStep
        self.drags = getattr(self, 'drags', []) + [dict(recipe=recipe, handles=list(handles), targets=list(targets),
                                                        mask=mask, steps=steps)]
        pts = np.asarray(handles, np.float64)
        tgt = np.asarray(targets, np.float64)
        start = list(np.linalg.norm(tgt - pts, axis=1))
        done = cancelled = False
        k = 0
        while k < steps and not done:
            if cancel is not None and cancel():
                cancelled = True
                break
            step = tgt - pts
            norm = np.maximum(np.linalg.norm(step, axis=1, keepdims=True), 1e-9)
            pts = np.where(norm > 1, np.round(pts + step / norm), tgt)
            k += 1
            dist = list(np.linalg.norm(tgt - pts, axis=1))
            done = max(dist) <= 1
            img = np.zeros((8, 8, 3), np.uint8) if image_every and k % image_every == 0 else None
            if on_step is not None:
                on_step(DragStep(k, [tuple(p) for p in pts], dist, 0.0, img, done))
        dist = list(np.linalg.norm(tgt - pts, axis=1))
        return DragResult(ws=np.full((6, 4), 0.01 * k, np.float32), points=[tuple(p) for p in pts], distances=dist,
                          start_distances=start, steps=k, reached=max(dist) <= 1, cancelled=cancelled)
    def projection(self, target, options):
        """A stand-in projection: records (target, options) in ``self.projections``; each step
        moves a grey image one level toward the target; the ws encode the step count."""
        from explorer.engine.projector import ProjectionResult, ProjectionStep
        self.projections = getattr(self, 'projections', []) + [(target.copy(), dict(options))]
        steps = int(options['steps'])

        def run(progress=None):
            img = np.full_like(target, 128)
            for k in range(1, steps + 1):
                img = (img.astype(np.int16) + np.sign(target.astype(np.int16) - img)).astype(np.uint8)
                mse = float(np.mean((img.astype(np.float64) - target) ** 2))
                psnr = 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))
                if progress is not None:
                    progress(ProjectionStep(k, steps, options['space'], {'psnr': psnr}, 0.1, img.copy()))
            return ProjectionResult(ws=np.full((6, 4), 0.01 * steps, np.float32), space=options['space'], image=img,
                                    target=target, psnr=psnr, ssim=0.5, steps_done=steps, stopped_early=False,
                                    seconds=0.0)
        return run

    # layer inspector: three layers; the capture is a deterministic function of the seed
    FAKE_LAYERS = (('b4.conv1', 'conv', 4, 8), ('b8.conv1', 'conv', 8, 8), ('b8.torgb', 'torgb', 8, 3))

    def inspect_layers(self):
        from explorer.engine.activation_view import LayerInfo
        return [LayerInfo(n, k, r, r, c) for n, k, r, c in self.FAKE_LAYERS]

    def inspect(self, recipe, layer, options):
        from explorer.engine.activation_view import inspect_array
        info = next(x for x in self.inspect_layers() if x.name == layer)
        self.started.set()
        with self.gate:
            self.inspected.append((recipe, layer, options))
            rng = np.random.RandomState(recipe.seeds[0] % 1000)
            x = rng.randn(info.channels, info.height, info.width).astype(np.float32)
            return inspect_array(x, info, options, recipe=recipe, timings={'capture_ms': 1.0})


class GridEngine(FakeEngine):
    """Mixing-grid tiles one at a time (``delay`` seconds each); counts the tiles it produced and
    keeps the specs asked for. ``honour_interrupt``: stop with ``Cancelled`` before a tile when
    ``interrupt()`` says so (as ``Session.render_grid_iter`` does)."""

    def __init__(self, delay=0.0, honour_interrupt=False):
        super().__init__()
        self.delay = delay
        self.honour_interrupt = honour_interrupt
        self.produced = 0
        self.specs = []
        self.lock = threading.Lock()

    def render_grid_iter(self, spec, interrupt=None):
        from explorer.engine.progress import Cancelled
        self.specs.append(spec)
        keys = [('col', -1, c) for c in range(len(spec.cols))] + [('row', r, -1) for r in range(len(spec.rows))]
        keys += [('cell', r, c) for r in range(len(spec.rows)) for c in range(len(spec.cols))]

        def tiles():
            for kind, r, c in keys:
                if self.honour_interrupt and interrupt is not None and interrupt():
                    raise Cancelled()
                time.sleep(self.delay)
                with self.lock:
                    self.produced += 1
                yield kind, r, c, np.full((8, 8, 3), 40 + 10 * max(r, 0) + max(c, 0), np.uint8)
        return tiles()


def qimage_array(img) -> np.ndarray:
    """QImage -> uint8 [H, W, 3] copy."""
    from PyQt6.QtGui import QImage
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    return np.frombuffer(ptr, np.uint8).reshape(h, img.bytesPerLine())[:, :3 * w].reshape(h, w, 3).copy()


def make_window(qtbot, **kw):
    from explorer.ui.main_window import MainWindow
    w = MainWindow(**kw)
    qtbot.addWidget(w)
    return w


def settle(qtbot, win):
    qtbot.waitUntil(lambda: win.last_request is not None and win._shown_id == win.last_request.request_id,
                    timeout=15000)

"""The render worker: one QThread that owns the engine (and so the generator).

- Renders go through a one-slot mailbox: ``submit`` overwrites the pending request,
  so the newest request always wins and slider bursts collapse without debouncing.
- A request equal to the last rendered one (same recipe and options) is skipped.
- Results carry the request id; the window drops any result older than what it shows.
- A full-resolution render (a request that is not ``interactive``: a refine, a typed value)
  is interrupted between layers as soon as a different request is waiting or the worker
  stops: its frame would be replaced at once, and a full frame can take seconds (1024 px on
  a CPU). Interactive requests (previews, fast frames) always complete, so a continuous drag
  still shows frames. An interrupted request produces no result (``interrupted_ids``).
- Request options the engine understands: ``interactive`` (a control is being dragged:
  a progressive preview when a full frame would take longer than ``preview_ms``),
  ``path='exact'`` (reference pixels, e.g. a restored recipe) and ``dtype`` (fast path).
- PNG export renders the exact reference pixels here (``export_png``), whatever the
  view shows (the view may come from the fast path); so does ``render_exact`` for the
  clipboard and favourite thumbnails (``exactReady``), so they match the exported PNG.
- PNGs of pixels the window already has (an exact frame on screen, a mixing grid) are
  written here too (``write_png``, ``write_grid_png``): encoding, upscaling and the disk
  never run on the UI thread. Each write emits ``pngSaved`` like ``export_png``; writes
  still queued when the worker stops are done before it ends. A grid image whose tiles must be
  rendered again (``export_grid_png``: File > Reference synthesis for exports) renders them here
  one at a time, serving the view's renders in between; ``cancel_grid_export`` (or stopping)
  ends it before the next tile, or between layers of one, and writes nothing.
- Other jobs (load a checkpoint, render a grid, batch export, compute semantic directions,
  the label gallery's faces and fits)
  run on the same thread. A grid renders one tile at a time and yields to pending single
  renders in between, so sliders stay live while a grid fills in; a newer grid replaces an
  older one. A direction sweep (a strip of thumbnails of one edit at several amounts) does
  the same after any grid: one thumbnail at a time, each interrupted between layers when a
  render or a job waits (it is rendered again afterwards); a newer sweep replaces an older one.
- A point drag (``drag``, explorer.engine.drag) runs here too, so it never shares the generator
  with a render: ``dragStep`` after every step (the tracked handles, their distances and, every
  ``image_every`` steps, the image), then ``dragFinished``. ``cancel_drag`` stops it within a
  step (between layers); the latent of the last full step is the result. Renders submitted
  meanwhile wait; the newest is rendered when the drag ends.
- A projection (issue #17) only takes its private copy of the generator here
  (``prepare_projection`` -> ``projectionReady``); it runs in ``projection_worker.ProjectionWorker``,
  its own thread, so the view keeps rendering during the 10-60 s it takes.
- The layer inspector (``inspect``) has its own one-slot mailbox, served after the pending
  render: the newest (recipe, layer, view options) wins and one equal to the last is skipped.
  Its forward hook lives only inside that job (engine.inspect), so with the inspector closed
  nothing is asked and renders cost what they did.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from PyQt6.QtCore import QThread, pyqtSignal

from explorer.engine.grid_spec import grid_export_image
from explorer.engine.image_export import write_image
from explorer.engine.progress import Cancelled
from explorer.engine.recipe import Recipe
from explorer.engine.session import RenderSession
from explorer.errors import error_text
from explorer.workers.live import LIVE_WORKERS  # every worker the app starts (tests: none left running)

log = logging.getLogger(__name__)


def default_session(device=None, cpu_threads=None):
    """The engine session the window renders with (the UI itself never builds torch objects)."""
    from explorer.engine.session import Session
    return Session(device, cpu_threads=cpu_threads)


@dataclass(frozen=True)
class RenderRequest:
    """Immutable, hashable: a recipe plus view options, tagged with an increasing id."""
    recipe: Recipe
    request_id: int = 0
    options: tuple = ()         # sorted (name, value) pairs, e.g. (('interactive', True),); extensible

    def key(self):
        """What the pixels depend on (the id is not part of it)."""
        return (self.recipe, self.options)

    def option(self, name, default=None):
        return dict(self.options).get(name, default)


@dataclass
class RenderResult:
    request_id: int
    request: RenderRequest
    image: object = None            # uint8 [H, W, C] numpy array to display, None on error
    timings: dict = field(default_factory=dict)
    error: str = ''
    export_image: object = None     # the plain image when ``image`` is a diagnostic view

    @property
    def frame(self):
        """The image that the recipe makes (full resolution; ``exact``: the reference pixels)."""
        return self.image if self.export_image is None else self.export_image

    @property
    def preview(self) -> bool:
        """A reduced-resolution preview (the view scales it smoothly to the full size)?"""
        return bool(self.timings.get('preview', False))

    @property
    def exact(self) -> bool:
        """Rendered on the exact reference path (engines that do not say are exact)?"""
        return self.timings.get('path', 'exact') == 'exact'


class RenderWorker(QThread):
    resultReady = pyqtSignal(object)            # RenderResult
    loaded = pyqtSignal(object)                 # ModelInfo
    loadFailed = pyqtSignal(str)                # clear error text
    gridTile = pyqtSignal(int, str, int, int, object)   # grid_id, kind, r, c, uint8 image
    gridFinished = pyqtSignal(int, str)         # grid_id, error ('' = ok)
    progress = pyqtSignal(str, int, int, str)   # job kind, done, total, text
    batchFinished = pyqtSignal(object, str)     # written paths, error ('' ok, 'cancelled')
    weightsSwapped = pyqtSignal(object)         # ModelInfo: training weights now in the engine (after
                                                # ``loaded`` when they replaced the model: info.live)
    weightsFailed = pyqtSignal(str)             # why the training weights did not fit
    pngSaved = pyqtSignal(str, str)             # path, error ('' = ok, 'cancelled': export_grid_png stopped)
    exactReady = pyqtSignal(int, object, object, str)   # tag, recipe, uint8 image (None on error), error
    latentReady = pyqtSignal(int, str, object, str)     # tag, kind, result (None on error), error ('' = ok)
    directionsReady = pyqtSignal(object, str)   # DirectionSet (None unless ok), error ('' ok, 'cancelled')
    sweepThumb = pyqtSignal(int, int, object)   # sweep_id, index, uint8 image
    sweepFinished = pyqtSignal(int, str)        # sweep_id, error ('' = every thumbnail sent)
    animReady = pyqtSignal(int, str, object, str)   # tag, kind ('thumb' | 'frame'), result (None on error), error
    animExported = pyqtSignal(str, str)         # written path, error ('' ok, 'cancelled')
    dragStep = pyqtSignal(int, object, object, object)  # step, [(x, y)] handles, [px] distances, uint8 image or None
    dragFinished = pyqtSignal(object, str)      # DragResult (None on error; .cancelled when stopped), error
    layersReady = pyqtSignal(object, str)       # [LayerInfo] of the loaded model (None on error), error
    inspectReady = pyqtSignal(int, object, str) # inspect id, Inspection (None on error), error ('' = ok)
    projectionReady = pyqtSignal(int, object, str)  # tag, run(progress) on a copy of G (None on error), error
    labelsReady = pyqtSignal(int, str, object, str)  # tag, kind ('gallery' | 'fit'), result (None on error), error

    def __init__(self, engine: RenderSession, parent=None):
        super().__init__(parent)
        self.engine = engine
        self._cond = threading.Condition()
        self._pending: RenderRequest | None = None     # the one-slot mailbox
        self._jobs: list = []                           # ('load', path) | ('batch', ...)
        self._grid = None                               # (grid_id, iterator)
        self._grid_pending = None                       # (grid_id, spec) not started yet
        self._stop = False
        self._cancel_batch = threading.Event()
        self._cancel_directions = threading.Event()
        self._cancel_labels = threading.Event()
        self._cancel_anim = threading.Event()
        self._cancel_drag = threading.Event()
        self._cancel_grid_export = threading.Event()
        self._sweep = None                              # [sweep_id, recipes, next index] being rendered
        self._last_key = None
        self._inspect_pending = None                    # (inspect id, recipe, layer, options)
        self._inspect_last = None                       # (recipe, layer, options) last inspected
        self.inspected_ids: list[int] = []              # for tests
        self.rendered_ids: list[int] = []               # for tests and the bench
        self.interrupted_ids: list[int] = []            # renders stopped for a newer request
        self.preview_ms = 50.0                          # interactive requests: budget per frame
        self.min_frame_s = 0.0                          # FPS cap: at least this long between renders
        self._frame_end = 0.0                           # perf_counter when the last render ended
        LIVE_WORKERS.add(self)

    # ------------------------------------------------------------------ UI-thread API
    def submit(self, request: RenderRequest) -> None:
        with self._cond:
            self._pending = request
            self._cond.notify()

    def load(self, path, sha256=None) -> None:
        """Load a checkpoint; ``sha256``: refuse a file whose content hash is not that."""
        self._push(('load', (None if path is None else str(path), sha256)))

    def render_grid(self, grid_id: int, spec) -> None:
        with self._cond:
            self._grid_pending = (grid_id, spec)
            self._cond.notify()

    def cancel_grid(self) -> None:
        with self._cond:
            self._grid_pending = None
            self._grid = None

    def batch_export(self, seeds, outdir, recipe, upscale: int = 1, options=None) -> None:
        """``options``: an ExportOptions (format, metadata, watermark); None: PNG."""
        self._cancel_batch.clear()
        self._push(('batch', (list(seeds), str(outdir), recipe, int(upscale), options)))

    def load_state(self, record) -> None:
        """Swap in G_ema weights from the training worker (a CPU copy); the newest replaces any pending."""
        with self._cond:
            self._jobs = [j for j in self._jobs if j[0] != 'state']
            self._jobs.append(('state', record))
            self._cond.notify()

    def export_png(self, path, recipe, recipe_dict, upscale: int = 1, options=None) -> None:
        """Render ``recipe`` on the exact path and write it to ``path`` (``upscale`` times larger;
        ``options``: an ExportOptions format, 16-bit included); emits pngSaved."""
        self._push(('png', (str(path), recipe, recipe_dict, int(upscale), options)))

    def write_png(self, path, image, recipe_dict, upscale: int = 1, options=None) -> None:
        """Write ``image`` (uint8 [H, W, C], e.g. the exact frame on screen) with ``recipe_dict``
        embedded, ``upscale`` times larger (``options``: an 8-bit ExportOptions format); emits pngSaved."""
        self._push(('write', (str(path), image, recipe_dict, int(upscale), options)))

    def write_grid_png(self, path, spec, tiles: dict, recipe_dict, upscale: int = 1, labels: bool = False,
                       options=None) -> None:
        """Compose the mixing grid ``spec`` from ``tiles`` ({(kind, r, c): uint8 image}), upscale
        and label it, and write it with ``recipe_dict`` (its grid recipe) embedded (``options``:
        an ExportOptions format, always 8-bit: the tiles are); emits pngSaved."""
        self._push(('write-grid', (str(path), spec, dict(tiles), recipe_dict, int(upscale), bool(labels), options)))

    def export_grid_png(self, path, spec, recipe_dict, upscale: int = 1, labels: bool = False, options=None) -> None:
        """Render every tile of the mixing grid ``spec`` on ``spec.synthesis``'s path
        (``Session.render_grid_iter``; an export whose path differs from the tiles on screen), then
        write it as ``write_grid_png`` does; progress('grid-export', ...) after each tile, then pngSaved.
        Renders submitted meanwhile are done between tiles, so the view stays live.
        ``cancel_grid_export`` stops it before the next tile (within a tile on the reference path):
        nothing is written and pngSaved says (path, 'cancelled')."""
        self._cancel_grid_export.clear()
        self._push(('export-grid', (str(path), spec, recipe_dict, int(upscale), bool(labels), options)))

    def cancel_grid_export(self) -> None:
        self._cancel_grid_export.set()

    def render_exact(self, tag: int, recipe) -> None:
        """Render ``recipe`` on the exact path (what export writes); emits exactReady(tag, ...)."""
        self._push(('exact', (int(tag), recipe)))

    def latent_job(self, tag: int, kind: str, *args) -> None:
        """Stored latents on the engine (torch) side; emits latentReady(tag, kind, result, error).
        kind 'read' (path) -> StoredLatent checked against the model; 'keep' (recipe, name) ->
        the recipe's final ws as a W+ StoredLatent; 'export' (path, recipe) -> the written path."""
        if kind not in ('read', 'keep', 'export'):
            raise ValueError(f'unknown latent job {kind!r}')
        self._push(('latent', (int(tag), kind, args)))

    def cancel_batch(self) -> None:
        self._cancel_batch.set()

    def compute_directions(self, method: str, layers=None, num: int = 10, samples: int = 20_000) -> None:
        """Compute a direction set ('sefa' | 'pca', see Session.compute_directions); progress('directions', ...)
        while it runs, then directionsReady."""
        self._cancel_directions.clear()
        self._push(('directions', ('compute', (str(method), None if layers is None else tuple(layers),
                                               int(num), int(samples)))))

    def measure_directions(self, dset) -> None:
        """Measure ``dset``'s std (a set loaded without one); directionsReady with the set completed."""
        self._cancel_directions.clear()
        self._push(('directions', ('measure', dset)))

    def cancel_directions(self) -> None:
        self._cancel_directions.set()

    def label_job(self, tag: int, kind: str, *args) -> None:
        """The label gallery of the Directions tab; emits labelsReady(tag, kind, result, error).
        kind 'gallery' (seeds, psi) -> (seeds, w [N, w_dim], [uint8 thumbnails]); 'fit' (w, labels,
        condition_on) -> (unit direction, std). progress('labels', ...) while it runs."""
        if kind not in ('gallery', 'fit'):
            raise ValueError(f'unknown label job {kind!r}')
        self._cancel_labels.clear()
        self._push(('labels', (int(tag), kind, args)))

    def cancel_labels(self) -> None:
        self._cancel_labels.set()

    def animation_job(self, tag: int, kind: str, *args) -> None:
        """Animation tab work; emits animReady(tag, kind, result, error). kind 'thumb' (recipe)
        -> the exact uint8 image of a keyframe; 'frame' (animation, i, path) -> (uint8 image,
        timings) of frame i (Session.animation_frame)."""
        if kind not in ('thumb', 'frame'):
            raise ValueError(f'unknown animation job {kind!r}')
        self._push(('anim', (int(tag), kind, args)))

    def export_animation(self, anim, out, **options) -> None:
        """Render ``anim`` to ``out`` (Session.export_animation ``options``: scale, resample, quality,
        path, synthesis); progress('animation', ...) after each frame, then animExported. Renders submitted
        meanwhile are done between frames, so the view stays live."""
        self._cancel_anim.clear()
        self._push(('anim-export', (anim, str(out), dict(options))))

    def cancel_animation_export(self) -> None:
        self._cancel_anim.set()
    def drag(self, recipe, handles, targets, mask=None, steps: int = 200, image_every: int = 2) -> None:
        """Drag ``handles`` toward ``targets`` ([(x, y)] image pixels) on the image of ``recipe``;
        ``mask``: None or a bool [H, W] array (True = may move). dragStep per step, then dragFinished."""
        self._cancel_drag.clear()
        self._push(('drag', (recipe, [tuple(p) for p in handles], [tuple(p) for p in targets], mask, int(steps),
                             int(image_every))))

    def cancel_drag(self) -> None:
        self._cancel_drag.set()

    def prepare_projection(self, tag: int, target, options: dict) -> None:
        """Copy the generator for a projection of ``target`` (uint8 [R, R, C]) with ``options``
        (Session.projection), here between renders; emits projectionReady(tag, run, error).
        ``run`` goes to a ``ProjectionWorker`` thread: the projection itself never blocks renders."""
        self._push(('projection', (int(tag), target, dict(options))))

    def render_sweep(self, sweep_id: int, recipes) -> None:
        """Render ``recipes`` (a direction sweep) on the exact path, one sweepThumb each, then
        sweepFinished; replaces any sweep not finished yet."""
        with self._cond:
            self._sweep = [int(sweep_id), list(recipes), 0]
            self._cond.notify()

    def inspect_layers(self) -> None:
        """List the loaded model's synthesis layers; emits layersReady."""
        self._push(('layers', None))

    def inspect(self, inspect_id: int, recipe, layer: str, options) -> None:
        """Capture ``layer``'s output for ``recipe`` and show it as ``options`` (InspectOptions)
        say; emits inspectReady. Replaces any inspection not started yet (latest wins)."""
        with self._cond:
            self._inspect_pending = (int(inspect_id), recipe, str(layer), options)
            self._cond.notify()

    def cancel_sweep(self) -> None:
        with self._cond:
            self._sweep = None

    def stop(self, timeout_ms: int = 10000) -> None:
        with self._cond:
            self._stop = True
            self._cancel_batch.set()
            self._cancel_directions.set()
            self._cancel_labels.set()
            self._cancel_anim.set()
            self._cancel_drag.set()
            self._cancel_grid_export.set()
            self._cond.notify()
        if self.isRunning():
            self.wait(timeout_ms)

    def forget_last(self) -> None:
        """Render the next request even if it equals the last one (e.g. after a model change)."""
        with self._cond:
            self._last_key = None

    def _push(self, job):
        with self._cond:
            self._jobs.append(job)
            self._cond.notify()

    # ------------------------------------------------------------------ worker thread
    def run(self) -> None:
        while True:
            with self._cond:
                while not (self._stop or self._jobs or self._pending is not None or self._grid is not None
                           or self._grid_pending is not None or self._sweep is not None
                           or self._inspect_pending is not None):
                    self._cond.wait()
                if self._stop:
                    # PNGs of pixels already rendered are still written (Save, then quit at once).
                    writes = [j for j in self._jobs if j[0] in ('write', 'write-grid')]
                    self._jobs.clear()
                    break
                job = request = None
                if self._jobs:
                    job = self._jobs.pop(0)
                elif self._pending is not None:
                    wait = self._frame_end + self.min_frame_s - time.perf_counter()
                    if wait > 0:        # FPS cap: newer requests keep replacing this one meanwhile
                        self._cond.wait(wait)
                        continue
                    request, self._pending = self._pending, None
                elif self._inspect_pending is not None:
                    job = ('inspect', self._inspect_pending)
                    self._inspect_pending = None
                elif self._grid_pending is not None:
                    grid_id, spec = self._grid_pending
                    self._grid_pending = None
                    job = ('grid-start', (grid_id, spec))
                elif self._grid is not None:
                    job = ('grid-step', self._grid)
                else:
                    job = ('sweep-step', self._sweep)
            if request is not None:
                self._render(request)
                self._frame_end = time.perf_counter()
            else:
                self._run_job(*job)
        for job in writes:
            self._run_job(*job)

    def _render(self, request: RenderRequest) -> None:
        if request.key() == self._last_key:
            return  # identical to what is already on screen
        self.rendered_ids.append(request.request_id)
        try:
            export = None
            if request.option('view', 'image') == 'noise':
                image, export, timings = self.engine.render_noise_detail(request.recipe)
            else:
                kw = {}
                if request.option('path') is not None:
                    kw['path'] = request.option('path')
                if request.option('dtype') is not None:
                    kw['dtype'] = request.option('dtype')
                if request.option('interactive'):
                    kw['max_ms'] = self.preview_ms
                else:
                    kw['interrupt'] = lambda: self._superseded(request)
                image, timings = self.engine.render(request.recipe, **kw)
            self._last_key = request.key()
            self.resultReady.emit(RenderResult(request.request_id, request, image, dict(timings), '', export))
        except Cancelled:
            self.interrupted_ids.append(request.request_id)     # a newer request is next
        except Exception as e:  # a failed render never kills the worker
            log.exception('render failed: %r', request.recipe)
            self._last_key = None
            self.resultReady.emit(RenderResult(request.request_id, request, None, {}, error_text(e)))

    def _superseded(self, request: RenderRequest) -> bool:
        """Asked between layers of a full-resolution render: stop it? (a different request
        waits, or the worker is stopping). Reads two attributes, no lock: a stale answer only
        delays the stop to the next layer."""
        pending = self._pending
        return self._stop or (pending is not None and pending.key() != request.key())

    def _run_job(self, kind, arg) -> None:
        if kind == 'load':
            def progress(done, total=None, text=''):
                self.progress.emit('load', int(done), int(total or 0), str(text))
            path, sha256 = arg
            try:
                info = self.engine.load(path, progress=progress, sha256=sha256)
            except Exception as e:
                log.exception('loading %s failed', arg)
                self.loadFailed.emit(error_text(e))
                return
            with self._cond:
                self._last_key = None
                self._inspect_last = None
                self._grid = None
            self.loaded.emit(info)
        elif kind == 'grid-start':
            grid_id, spec = arg
            try:
                it = iter(self.engine.render_grid_iter(spec))
            except Exception as e:
                self.gridFinished.emit(grid_id, error_text(e))
                return
            with self._cond:
                if self._grid_pending is None:
                    self._grid = (grid_id, it)
        elif kind == 'grid-step':
            grid_id, it = arg
            try:
                kind_, r, c, img = next(it)
            except StopIteration:
                self._finish_grid(arg, '')
                return
            except Exception as e:
                self._finish_grid(arg, error_text(e))
                return
            self.gridTile.emit(grid_id, kind_, r, c, img)
        elif kind == 'batch':
            seeds, outdir, recipe, upscale, options = arg
            kw = {} if options is None else {'options': options}

            def progress(done, total=None, text=''):
                self.progress.emit('batch', int(done), int(total or 0), str(text))
                if self._cancel_batch.is_set():
                    raise Cancelled()
            self.progress.emit('batch', 0, len(seeds), '')
            try:
                paths = self.engine.batch_export(seeds, outdir, recipe, progress=progress, upscale=upscale, **kw)
            except Cancelled:
                self.batchFinished.emit([], 'cancelled')
                return
            except Exception as e:
                log.exception('batch export to %s failed', outdir)
                self.batchFinished.emit([], error_text(e))
                return
            self.batchFinished.emit(list(paths), '')
        elif kind == 'png':
            path, recipe, recipe_dict, upscale, options = arg
            kw = {} if options is None else {'options': options}
            self._write(path, lambda: self.engine.export_png(path, recipe, recipe_dict, upscale=upscale, **kw))
        elif kind == 'write':
            path, image, recipe_dict, upscale, options = arg
            opts = options.replace(bits=8) if options is not None else None     # the frame is 8-bit
            self._write(path, lambda: write_image(path, image, recipe_dict, upscale=upscale, options=opts))
        elif kind == 'write-grid':
            path, spec, tiles, recipe_dict, upscale, labels, options = arg
            self._write(path, lambda: self._write_grid(path, spec, tiles, recipe_dict, upscale, labels, options))
        elif kind == 'export-grid':
            path, spec, recipe_dict, upscale, labels, options = arg
            try:
                tiles = self._grid_tiles(spec)
            except Cancelled:       # the user's Cancel, or the app closing: nothing written
                self.pngSaved.emit(path, 'cancelled')
                return
            except Exception as e:
                log.exception('rendering the grid for %s failed', path)
                self.pngSaved.emit(path, error_text(e))
                return
            self._write(path, lambda: self._write_grid(path, spec, tiles, recipe_dict, upscale, labels, options))
        elif kind == 'exact':
            tag, recipe = arg
            try:
                image, _ = self.engine.render(recipe, path='exact')
            except Exception as e:
                log.exception('exact render failed: %r', recipe)
                self.exactReady.emit(tag, recipe, None, error_text(e))
                return
            self.exactReady.emit(tag, recipe, image, '')
        elif kind == 'latent':
            tag, what, args = arg
            run = {'read': self.engine.read_latent, 'keep': self.engine.recipe_latent,
                   'export': self.engine.export_latent}[what]
            try:
                result = run(*args)
            except Exception as e:
                log.exception('latent %s %r failed', what, args[:1])
                self.latentReady.emit(tag, what, None, error_text(e))
                return
            self.latentReady.emit(tag, what, result, '')
        elif kind == 'directions':
            self._directions_job(*arg)
        elif kind == 'labels':
            self._labels_job(*arg)
        elif kind == 'anim':
            tag, what, args = arg
            try:
                if what == 'thumb':
                    result, _ = self.engine.render(args[0], path='exact')
                else:
                    result = self.engine.animation_frame(*args)
            except Exception as e:
                log.exception('animation %s job failed', what)
                self.animReady.emit(tag, what, None, error_text(e))
                return
            self.animReady.emit(tag, what, result, '')
        elif kind == 'anim-export':
            self._export_animation(*arg)
        elif kind == 'drag':
            self._drag_job(*arg)
        elif kind == 'projection':
            tag, target, options = arg
            try:
                run = self.engine.projection(target, options)
            except Exception as e:
                log.exception('preparing the projection failed')
                self.projectionReady.emit(tag, None, error_text(e))
                return
            self.projectionReady.emit(tag, run, '')
        elif kind == 'sweep-step':
            self._sweep_step(arg)
        elif kind == 'layers':
            try:
                layers = list(self.engine.inspect_layers())
            except Exception as e:
                log.exception('listing the layers failed')
                self.layersReady.emit(None, error_text(e))
                return
            self.layersReady.emit(layers, '')
        elif kind == 'inspect':
            self._inspect(*arg)
        elif kind == 'state':
            try:
                info, switched = self.engine.load_state(arg)
            except Exception as e:
                log.exception('taking over the training weights failed')
                self.weightsFailed.emit(error_text(e))
                return
            with self._cond:
                self._last_key = None
                self._inspect_last = None
                if switched:
                    self._grid = None
            if switched:        # another network now: the window takes it as a newly loaded model
                self.loaded.emit(info)
            self.weightsSwapped.emit(info)

    def _inspect(self, inspect_id, recipe, layer, options) -> None:
        key = (recipe, layer, options)
        if key == self._inspect_last:
            return      # already shown
        self.inspected_ids.append(inspect_id)
        try:
            result = self.engine.inspect(recipe, layer, options)
        except Exception as e:
            log.exception('inspecting %s failed', layer)
            self._inspect_last = None
            self.inspectReady.emit(inspect_id, None, error_text(e))
            return
        self._inspect_last = key
        result.request_id = inspect_id
        self.inspectReady.emit(inspect_id, result, '')

    def _directions_job(self, what, arg) -> None:
        def progress(done, total=None, text=''):
            self.progress.emit('directions', int(done), int(total or 0), str(text))
            if self._cancel_directions.is_set():
                raise Cancelled()
        try:
            if what == 'compute':
                method, layers, num, samples = arg
                dset = self.engine.compute_directions(method, layers=layers, num=num, samples=samples,
                                                      progress=progress)
            else:
                dset = arg.replace(std=self.engine.measure_std(arg.directions, progress=progress))
        except Cancelled:
            self.directionsReady.emit(None, 'cancelled')
            return
        except Exception as e:
            log.exception('computing directions failed (%s)', what)
            self.directionsReady.emit(None, error_text(e))
            return
        self.directionsReady.emit(dset, '')

    def _labels_job(self, tag, what, args) -> None:
        def progress(done, total=None, text=''):
            self.progress.emit('labels', int(done), int(total or 0), str(text))
            if self._cancel_labels.is_set():
                raise Cancelled()
        try:
            if what == 'gallery':
                result = self.engine.label_gallery(*args, progress=progress)
            else:
                result = self.engine.fit_label_direction(*args, progress=progress)
        except Cancelled:
            self.labelsReady.emit(tag, what, None, 'cancelled')
            return
        except Exception as e:
            log.exception('label %s job failed', what)
            self.labelsReady.emit(tag, what, None, error_text(e))
            return
        self.labelsReady.emit(tag, what, result, '')

    def _export_animation(self, anim, out, options) -> None:
        def progress(done, total=None, text=''):
            self.progress.emit('animation', int(done), int(total or 0), str(text))
            if self._cancel_anim.is_set():
                raise Cancelled()
            with self._cond:            # keep the view live: a render submitted meanwhile runs now
                request, self._pending = self._pending, None
            if request is not None:
                self._render(request)
        self.progress.emit('animation', 0, int(anim.num_frames), '')
        try:
            written = self.engine.export_animation(anim, out, progress=progress,
                                                   cancel=self._cancel_anim.is_set, **options)
        except Cancelled:
            self.animExported.emit(out, 'cancelled')
            return
        except Exception as e:
            log.exception('animation export to %s failed', out)
            self.animExported.emit(out, error_text(e))
            return
        self.animExported.emit(str(written), '')
    def _drag_job(self, recipe, handles, targets, mask, steps, image_every) -> None:
        def on_step(st):
            self.dragStep.emit(int(st.step), list(st.points), list(st.distances), st.image)

        def cancel():
            return self._stop or self._cancel_drag.is_set()
        try:
            result = self.engine.drag(recipe, handles, targets, mask=mask, steps=steps, on_step=on_step,
                                      cancel=cancel, image_every=image_every)
        except Exception as e:
            log.exception('dragging failed: %r', recipe)
            self.dragFinished.emit(None, error_text(e))
            return
        with self._cond:
            self._last_key = None       # the view showed the drag's own images meanwhile
        self.dragFinished.emit(result, '')

    def _sweep_step(self, sweep) -> None:
        """Render the next thumbnail of ``sweep``; a render or job that comes in meanwhile
        interrupts it between layers (it is rendered again next time)."""
        sweep_id, recipes, i = sweep

        def interrupt():
            return self._stop or self._pending is not None or bool(self._jobs) or self._sweep is not sweep
        try:
            image, _ = self.engine.render(recipes[i], path='exact', interrupt=interrupt)
        except Cancelled:
            return
        except Exception as e:
            log.exception('sweep render failed: %r', recipes[i])
            self._finish_sweep(sweep, error_text(e))
            return
        with self._cond:
            if self._sweep is not sweep:
                return      # replaced or cancelled while it rendered
            sweep[2] = i + 1
        self.sweepThumb.emit(sweep_id, i, image)
        if i + 1 >= len(recipes):
            self._finish_sweep(sweep, '')

    def _finish_sweep(self, sweep, error):
        with self._cond:
            if self._sweep is not sweep:
                return
            self._sweep = None
        self.sweepFinished.emit(sweep[0], error)
    def _grid_tiles(self, spec) -> dict:
        """Every tile of ``spec`` ({(kind, r, c): uint8 image}), rendered now for an export; the
        pending view render runs between tiles (each tile sets its own input transform).
        ``Cancelled`` when cancelled or closing (before a tile, or between layers of one)."""
        def interrupt():
            return self._stop or self._cancel_grid_export.is_set()
        total = len(spec.rows) + len(spec.cols) + len(spec.rows) * len(spec.cols)
        tiles = {}
        self.progress.emit('grid-export', 0, total, '')
        for kind, r, c, img in self.engine.render_grid_iter(spec, interrupt=interrupt):
            if interrupt():
                raise Cancelled()
            tiles[(kind, r, c)] = img
            self.progress.emit('grid-export', len(tiles), total, '')
            with self._cond:            # keep the view live: a render submitted meanwhile runs now
                request, self._pending = self._pending, None
            if request is not None:
                self._render(request)
                self._frame_end = time.perf_counter()
        return tiles

    @staticmethod
    def _write_grid(path, spec, tiles, recipe_dict, upscale, labels, options) -> None:
        image, export = grid_export_image(spec, tiles, next(iter(tiles.values())).shape, upscale=upscale, labels=labels)
        opts = options.replace(upscale=1, bits=8) if options is not None else None     # upscaled above
        write_image(path, image, recipe_dict, export=export, options=opts)

    def _write(self, path: str, write) -> None:
        """Run ``write()`` (it writes ``path``) and report it with pngSaved."""
        try:
            write()
        except Exception as e:
            log.exception('saving %s failed', path)
            self.pngSaved.emit(path, error_text(e))
            return
        self.pngSaved.emit(path, '')

    def _finish_grid(self, grid, error):
        with self._cond:
            if self._grid is grid:
                self._grid = None
        self.gridFinished.emit(grid[0], error)

"""Training snapshots in the project's own checkpoint format.

One file per snapshot, ``network-snapshot-{kimg:06d}.pt``, written with ``torch.save``
and holding only tensors and plain containers, so it loads with
``torch.load(weights_only=True)`` and ``explorer.load_generator(path)`` renders its
``G_ema``::

    {'format': 'stylegan-explorer', 'version': 1,
     'G_ema': {'class': 'stylegan2', 'init_kwargs': {...}, 'state_dict': {...}},
     'G': {...}, 'D': {'class': 'discriminator', ...},
     'opt_G': ..., 'opt_D': ..., 'augment_p': float, 'kimg': float, 'nimg': int,
     'config': {...}, 'rng': {...}, 'progress': {...}}

Writes are atomic (temp file in the same folder, fsync, ``os.replace``), so a process
killed mid-write leaves the previous snapshots intact; only the newest ``keep`` are kept.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from explorer.engine.checkpoint import FORMAT_NAME, FORMAT_VERSION, atomic_torch_save, load_torch_zip
from explorer.errors import CheckpointError
from explorer.training.runs import TEMP_GLOB, list_snapshots, snapshot_name


def write_snapshot(run_dir, record: dict, keep: int | None = 3) -> Path:
    """Atomically write ``record`` as the snapshot for ``record['kimg']``; prune old ones."""
    run_dir = Path(run_dir)
    record = dict(record)
    record.setdefault('format', FORMAT_NAME)
    record.setdefault('version', FORMAT_VERSION)
    path = run_dir / snapshot_name(record['kimg'])
    atomic_torch_save(record, path)
    if keep is not None and keep > 0:
        for old in list_snapshots(run_dir)[:-keep]:
            if old != path:
                try:
                    old.unlink()
                except OSError:
                    pass
    return path


def remove_stale_temp_files(run_dir) -> int:
    """Delete temp files left by a process killed while writing; returns how many."""
    n = 0
    for p in Path(run_dir).glob(TEMP_GLOB):
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n


def read_snapshot(path, mmap: bool = False) -> dict:
    """Load a snapshot (weights_only); CheckpointError if it is not a training snapshot.

    ``mmap=True`` memory-maps the tensors instead of reading them (see ``snapshot_info``)."""
    data = load_torch_zip(path, mmap=mmap)
    if not isinstance(data, dict) or data.get('format') != FORMAT_NAME:
        raise CheckpointError(path, 'not a StyleGAN Explorer training snapshot')
    version = data.get('version')
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(path, f'unsupported snapshot version {version!r}')
    for key in ('G', 'G_ema', 'D', 'config', 'nimg'):
        if key not in data:
            raise CheckpointError(path, f'snapshot lacks {key!r} (an exported generator, not a training snapshot?)')
    return data


def read_latest_snapshot(run_dir) -> tuple[Path, dict] | None:
    """Newest readable snapshot in ``run_dir``; an unreadable newer file is skipped with a warning."""
    for path in reversed(list_snapshots(run_dir)):
        try:
            return path, read_snapshot(path)
        except CheckpointError as e:
            warnings.warn(f'skipping unreadable snapshot: {e}', stacklevel=2)
    return None


def snapshot_info(path) -> dict:
    """What a snapshot says about its run, without reading its tensors (the file is memory-mapped,
    so this is quick even for a large network; the GUI calls it before resuming)::

        {'path': Path, 'kimg': float, 'nimg': int, 'tick': int, 'augment_p': float, 'config': dict}

    CheckpointError if the file is not a readable training snapshot."""
    data = read_snapshot(path, mmap=True)
    config = data['config']
    if not isinstance(config, dict):
        raise CheckpointError(path, 'snapshot config is not a dict')
    nimg = int(data['nimg'])
    progress = data.get('progress') if isinstance(data.get('progress'), dict) else {}
    return {'path': Path(path), 'kimg': nimg / 1000, 'nimg': nimg, 'tick': int(progress.get('tick', 0)),
            'augment_p': float(data.get('augment_p', 0.0)), 'config': dict(config)}

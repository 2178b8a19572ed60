"""Reading and writing checkpoints.

``load_generator(path_or_url)`` recognises the file by its content, never by
running it:

- the project's own format (a torch zip written by ``save_generator`` or by a
  training snapshot; read with ``torch.load(weights_only=True)``),
- NVIDIA PyTorch / TensorFlow pickles and rosinality ``.pt`` files, through the
  restricted readers in ``explorer.engine.formats`` (never plain pickle).

Own format: one ``torch.save`` file holding only tensors and plain containers::

    {'format': 'stylegan-explorer', 'version': 1,
     'G_ema': {'class': 'stylegan2', 'init_kwargs': {...}, 'state_dict': {...}},
     ...training extras (G, D, optimizer states, kimg...) in snapshots}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import zipfile
from pathlib import Path

import torch

from explorer.engine.atomic import atomic_write
from explorer.engine.files import open_regular
from explorer.engine.net_check import BUILD_ERRORS, build_checked
from explorer.engine.state import check_state, load_state_strict
from explorer.errors import CheckpointError
from explorer.paths import cache_dir, shipped_checkpoint

FORMAT_NAME = 'stylegan-explorer'
FORMAT_VERSION = 1
MAX_CONFIG_TEXT = 1 << 20      # characters of a config stored as JSON text

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- own format

def _jsonable(obj):
    """Round-trip through JSON so configs hold only plain types (tuples -> lists)."""
    return json.loads(json.dumps(obj))


def network_record(G) -> dict:
    return {
        'class': G.family,
        'init_kwargs': _jsonable(G.init_kwargs),
        'state_dict': {k: v.detach().cpu().clone() for k, v in G.state_dict().items()},
    }


def atomic_torch_save(obj, path) -> None:
    """torch.save to a temp file in the same folder, fsync, then rename over ``path``."""
    atomic_write(path, lambda f: torch.save(obj, f))


def save_generator(G, path, extra: dict | None = None) -> Path:
    """Save ``G`` (its config + tensors) in the project's own format, atomically."""
    record = {'format': FORMAT_NAME, 'version': FORMAT_VERSION, 'G_ema': network_record(G)}
    if extra:
        record.update(extra)
    atomic_torch_save(record, path)
    return Path(path)


def generator_from_record(record: dict, path='<memory>'):
    """Build a generator from {'class', 'init_kwargs', 'state_dict'}; every tensor must land."""
    try:
        family = record['class']
        init_kwargs = record['init_kwargs']
        state = record['state_dict']
    except (KeyError, TypeError):
        raise CheckpointError(path, 'network record lacks class/init_kwargs/state_dict') from None
    init_kwargs = _init_kwargs(init_kwargs, path)
    if not isinstance(family, str):
        raise CheckpointError(path, f'unknown generator family {_short_repr(family)}')
    if not isinstance(state, dict):
        raise CheckpointError(path, 'network state_dict is not a dict')
    G = build_checked(family, init_kwargs, verify=lambda meta: check_state(meta.state_dict(), state, path),
                      path=path)
    load_state_strict(G, state, path)
    return G


def _init_kwargs(init_kwargs, path) -> dict:
    """A record's init kwargs: a dict, or (older files) its JSON text, bounded like any config."""
    if isinstance(init_kwargs, str):
        if len(init_kwargs) > MAX_CONFIG_TEXT:
            raise CheckpointError(path, f'network config is longer than {MAX_CONFIG_TEXT} characters')
        try:
            init_kwargs = json.loads(init_kwargs)
        except (ValueError, RecursionError) as e:
            raise CheckpointError(path, f'network config is not valid JSON ({type(e).__name__})') from None
    if not isinstance(init_kwargs, dict):
        raise CheckpointError(path, f'network init_kwargs is a {type(init_kwargs).__name__}, not a dict')
    return init_kwargs


def _short_repr(v, limit=80) -> str:
    s = repr(v) if isinstance(v, (str, int, float, type(None))) else type(v).__name__
    return s if len(s) <= limit else s[:limit] + '...'


# ----------------------------------------------------------------------------- detection

def sniff_format(path) -> str:
    """'torch-zip', 'pickle', or raise CheckpointError for anything else."""
    path = Path(path)
    try:
        with open_regular(path) as f:  # a FIFO or device is refused at once, never read
            head = f.read(8)
    except FileNotFoundError:
        raise CheckpointError(path, 'no such file') from None
    except IsADirectoryError:
        raise CheckpointError(path, 'is a directory, not a checkpoint file') from None
    except OSError as e:
        raise CheckpointError(path, e.strerror or str(e)) from None
    if len(head) == 0:
        raise CheckpointError(path, 'file is empty')
    if head.startswith(b'PK'):
        return 'torch-zip'
    if head[:1] == b'\x80' and len(head) > 1 and head[1] in range(2, 6):
        return 'pickle'
    raise CheckpointError(path, 'not a recognised checkpoint (neither a torch zip file nor a pickle)')


def load_torch_zip(path, mmap: bool = False) -> object:
    """torch.load with weights_only=True, errors turned into CheckpointError.

    ``mmap=True`` maps the file instead of reading its tensors: quick when only the small,
    non-tensor part of a large file is wanted."""
    try:
        # rosinality's training checkpoints store their argparse options; Namespace only
        # holds attributes, so it joins torch's weights-only allowlist here.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location='cpu', weights_only=True, mmap=mmap)
    except zipfile.BadZipFile as e:
        raise CheckpointError(path, f'truncated or corrupt file ({e})') from None
    except RuntimeError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(path, f'truncated or corrupt file ({msg})') from None
    except Exception as e:  # weights_only refusals are UnpicklingError
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(path, f'refused to load: {msg}') from None


def is_url(s) -> bool:
    return isinstance(s, str) and s.lower().startswith(('http://', 'https://'))


def resolve_path(path_or_url, progress=None) -> Path:
    """Local path for a path or URL (URLs are downloaded once into the cache)."""
    if is_url(path_or_url):
        from explorer.engine import download
        return Path(download.fetch(path_or_url, progress=progress))
    return Path(path_or_url)


def read_checkpoint(path_or_url, progress=None) -> dict:
    """Everything the file holds, converted: {'G_ema': module, 'G': module|None, 'D': module|None,
    'format': str, 'path': Path, ...}. Nothing is executed; nothing half-loaded is returned."""
    path = resolve_path(path_or_url, progress=progress)
    if not is_url(path_or_url):
        return _read_file(path)
    try:
        return _read_file(path)
    except Exception as e:  # downloaded but unusable: never keep it, so the next try fetches again
        raise _forget_download(path_or_url, e) from None


def _forget_download(url, e: Exception) -> Exception:
    """Remove ``url``'s cached download after it failed to load; the error to raise instead."""
    from explorer.engine import download
    if not download.forget(url):
        return e
    if isinstance(e, CheckpointError):
        return CheckpointError(e.path, f'{e.reason} (removed from the download cache)')
    return e


def _read_file(path) -> dict:
    """``_read_any``, with every failure one CheckpointError naming the file: what a hostile or
    corrupt file can still provoke past the config checks (an allocator RuntimeError, a
    MemoryError, a RecursionError, a ValueError from odd data) is its fault, not a crash."""
    try:
        return _read_any(path)
    except CheckpointError:
        raise
    except BUILD_ERRORS as e:
        log.warning('refused checkpoint %s', path, exc_info=True)
        raise CheckpointError(path, _failure_reason(e)) from None


def _failure_reason(e: BaseException) -> str:
    if isinstance(e, MemoryError):
        return 'refused: implausible sizes (out of memory while reading)'
    if isinstance(e, RecursionError):
        return 'refused: data nested too deeply'
    text = str(e).splitlines()[0] if str(e) else ''
    if isinstance(e, RuntimeError) and 'alloc' in text.lower():
        return 'refused: implausible sizes (the allocator refused the memory)'
    text = text if len(text) <= 200 else text[:200] + '...'
    return f'corrupt or unsupported checkpoint ({type(e).__name__}{": " + text if text else ""})'


def _read_any(path) -> dict:
    kind = sniff_format(path)
    if kind == 'torch-zip':
        data = load_torch_zip(path)
        if isinstance(data, dict) and data.get('format') == FORMAT_NAME:
            return _read_own(data, path)
        if isinstance(data, dict) and 'g_ema' in data:
            from explorer.engine.formats import rosinality
            return rosinality.read(data, path)
        raise CheckpointError(path, 'torch file of unknown layout (not a StyleGAN Explorer or rosinality checkpoint)')
    from explorer.engine.formats import nvidia_pickle
    return nvidia_pickle.read(path)


def _read_own(data, path) -> dict:
    version = data.get('version')
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(path, f'unsupported {FORMAT_NAME} format version {version!r}')
    if 'G_ema' not in data:
        raise CheckpointError(path, 'no G_ema network in file')
    out = {'format': FORMAT_NAME, 'path': Path(path), 'G_ema': generator_from_record(data['G_ema'], path),
           'G': None, 'D': None, 'raw': data}
    if isinstance(data.get('G'), dict):
        out['G'] = generator_from_record(data['G'], path)
    if isinstance(data.get('D'), dict):
        out['D'] = discriminator_from_record(data['D'], path)
    return out


def discriminator_from_record(record, path):
    try:
        import explorer.engine.discriminator  # noqa: F401
    except ImportError:
        return None
    try:
        init_kwargs, state = record['init_kwargs'], record['state_dict']
    except (KeyError, TypeError):
        raise CheckpointError(path, 'D: network record lacks init_kwargs/state_dict') from None
    init_kwargs = _init_kwargs(init_kwargs, path)
    if not isinstance(state, dict):
        raise CheckpointError(path, 'D: state_dict is not a dict')
    D = build_checked('discriminator', init_kwargs, verify=lambda meta: check_state(meta.state_dict(), state, path,
                                                                                      'D: '),
                      path=path, context='D: ')
    load_state_strict(D, state, path, 'D: ')
    return D


# ----------------------------------------------------------------------------- public

def load_generator(path_or_url=None, device=None, progress=None):
    """The generator to render with (G_ema), in eval mode, on ``device``."""
    if path_or_url is None:
        path_or_url = default_checkpoint_path()
    G = read_checkpoint(path_or_url, progress=progress)['G_ema']
    G = G.eval().requires_grad_(False)
    if device is not None:
        G = G.to(device)
    return G


def sha256_file(path, chunk=1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


# A small network used until a trained default checkpoint is shipped.
RANDOM_DEFAULT_KWARGS = dict(
    z_dim=128, c_dim=0, w_dim=128, img_resolution=64, img_channels=3,
    mapping_kwargs=dict(num_layers=4),
    synthesis_kwargs=dict(channel_base=4096, channel_max=128, architecture='skip', conv_clamp=256),
)


def is_placeholder_default(path) -> bool:
    return Path(path).name.startswith('random-default')


def default_checkpoint_path() -> Path:
    """The shipped trained model if present, else a seeded random network made on first use."""
    shipped = shipped_checkpoint()
    if shipped is not None:
        return shipped
    path = cache_dir() / 'random-default-v1.pt'
    if not path.exists():
        from explorer.engine.networks_stylegan2 import Generator
        with torch.random.fork_rng():
            torch.manual_seed(0)
            G = Generator(**RANDOM_DEFAULT_KWARGS)
        save_generator(G, path)
    return path

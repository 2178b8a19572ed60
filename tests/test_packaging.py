"""A regular (non-editable) `pip install .` ships the default model: the installed package finds
checkpoints/portraits64.pt and its model card, not the random placeholder network."""

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_ships_the_default_checkpoint(tmp_path):
    pytest.importorskip('setuptools')
    src = tmp_path / 'src'
    src.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '*.egg-info', 'build')
    for name in ('pyproject.toml', 'README.md', 'main.py'):
        shutil.copy2(ROOT / name, src / name)
    for name in ('explorer', 'kernels', 'checkpoints'):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    venv = tmp_path / 'venv'
    # --without-pip: the venv uses this interpreter's pip and setuptools (no download, no old copies)
    subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip', str(venv)],
                   check=True, timeout=120)
    py = venv / 'bin' / 'python'
    if not py.exists():
        pytest.skip('venv layout without bin/python (not a POSIX system)')
    env = dict(os.environ, PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1')
    r = subprocess.run([str(py), '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation', str(src)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    shutil.rmtree(src)          # the installed copy must not lean on the source tree
    code = ('import explorer, explorer.engine.checkpoint as c\n'
            'from explorer.engine.direction_set import default_directions_path\n'
            'p = c.default_checkpoint_path()\n'
            'print(explorer.__file__); print(p); print(p.with_name("README.md")); print(default_directions_path(p))\n')
    r = subprocess.run([str(py), '-c', code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=dict(env, STYLEGAN_EXPLORER_CACHE=str(tmp_path / 'cache')))
    assert r.returncode == 0, r.stdout + r.stderr
    module, path, card, dirs = (Path(line) for line in r.stdout.split())
    assert module.is_relative_to(venv), module                  # the installed copy, not the checkout
    assert path.is_relative_to(venv) and path.name == 'portraits64.pt', path
    assert filecmp.cmp(path, ROOT / 'checkpoints' / 'portraits64.pt', shallow=False)
    assert filecmp.cmp(card, ROOT / 'checkpoints' / 'README.md', shallow=False)
    assert filecmp.cmp(dirs, ROOT / 'checkpoints' / 'portraits64_directions.npz', shallow=False)   # named sliders

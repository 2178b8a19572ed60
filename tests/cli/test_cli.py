"""Headless CLI: render/mix/info work, bad input is one line on stderr with exit code 2."""

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from PIL import Image


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    from explorer.engine.checkpoint import save_generator
    from explorer.engine.networks_stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    return save_generator(G, tmp_path_factory.mktemp('ck') / 'tiny.pt')


def test_render_writes_pngs_with_recipe(tmp_path, ckpt):
    r = run_cli('render', '--checkpoint', str(ckpt), '--seeds', '0-3', '--psi', '0.7',
                '--outdir', str(tmp_path / 'out'))
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / 'out').glob('*.png'))
    assert [f.name for f in files] == ['seed0000.png', 'seed0001.png', 'seed0002.png', 'seed0003.png']
    from explorer.engine.png import read_recipe
    ims = [np.asarray(Image.open(f)) for f in files]
    assert all(im.shape == (16, 16, 3) for im in ims)
    assert not np.array_equal(ims[0], ims[1])
    rec = read_recipe(files[2])
    assert rec['seeds'] == [2] and rec['psi'] == 0.7 and rec['checkpoint'] == 'tiny.pt'


def test_mix_grid_layout(tmp_path, ckpt):
    out = tmp_path / 'grid.png'
    r = run_cli('mix', '--checkpoint', str(ckpt), '--rows', '1,2,3', '--cols', '4,5', '--styles', 'coarse',
                '--out', str(out))
    assert r.returncode == 0, r.stderr
    grid = np.asarray(Image.open(out))
    assert grid.shape == (4 * 16, 3 * 16, 3)
    assert (grid[:16, :16] == 255).all()  # blank corner
    # Top row shows the column faces; left column the row faces.
    from explorer.engine.checkpoint import load_generator
    from explorer.engine.export import to_uint8
    from explorer.engine.recipe import Recipe
    from explorer.engine.rendering import render
    G = load_generator(ckpt)
    assert np.array_equal(grid[:16, 16:32], to_uint8(render(G, Recipe(seeds=(4,)))))
    assert np.array_equal(grid[32:48, :16], to_uint8(render(G, Recipe(seeds=(2,)))))


def test_info(ckpt):
    r = run_cli('info', str(ckpt))
    assert r.returncode == 0, r.stderr
    assert 'stylegan2' in r.stdout and 'num_ws' in r.stdout


@pytest.mark.parametrize('args', [
    ['render', '--seeds', 'abc'],
    ['render', '--seeds', '1', '--psi', 'notanumber'],
    ['render', '--seeds', '1', '--checkpoint', '/definitely/missing.pkl'],
    ['render', '--seeds', '1', '--outdir', '/proc/not-writable'],
    ['mix', '--rows', '1', '--cols', '2', '--styles', 'elbows'],
    ['mix', '--rows', '1', '--cols', 'x'],
    ['mix', '--rows', '1', '--cols', '2', '--out', 'grid.bmp'],    # .png .jpg .webp .tif are written
    ['mix', '--rows', '0-99', '--cols', '0-99'],
    ['render', '--seeds', '1', '--noise-mode', 'loud'],
    ['info', '/definitely/missing.pt'],
])
def test_bad_input_is_one_line_exit_2(args, tmp_path, ckpt):
    if args[0] in ('render', 'mix') and '--checkpoint' not in args:
        args = args + ['--checkpoint', str(ckpt)]
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip() and 'usage:' not in l and not l.startswith(' ')]
    assert len(lines) == 1, r.stderr
    assert 'Traceback' not in r.stderr


def test_help_on_every_command(capsys):
    from explorer.cli import build_parser, main
    parser = build_parser()
    names = list(parser._subparsers._group_actions[0].choices)
    assert {'render', 'mix', 'info', 'gui', 'train', 'metrics', 'bench'} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as e:
            main([name, '--help'])
        assert e.value.code == 0, name
        assert 'usage' in capsys.readouterr().out.lower(), name
    # And once through a real process, as a user runs it.
    r = run_cli('render', '--help')
    assert r.returncode == 0 and '--seeds' in r.stdout


def test_default_checkpoint_used_without_flag(tmp_path):
    r = run_cli('render', '--seeds', '0-1', '--outdir', str(tmp_path / 'o'),
                env_extra={'STYLEGAN_EXPLORER_CACHE': str(tmp_path / 'cache')})
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / 'o').glob('*.png'))) == 2


# ----------------------------------------------------------------------------- train (set up through training.jobs)

TINY_TRAIN = ['--resolution', '16', '--batch', '4', '--kimg', '0.004', '--z-dim', '8', '--w-dim', '8', '--map', '1',
              '--channel-base', '64', '--channel-max', '8', '--synthetic-length', '8', '--threads', '1',
              '--device', 'cpu']


def test_train_resume_of_a_folder_without_a_run_is_one_line(tmp_path, capsys):
    from explorer.cli import main
    (tmp_path / 'empty').mkdir()
    for folder, says in ((tmp_path / 'empty', 'no training snapshot'), (tmp_path / 'missing', 'is not a folder')):
        rc = main(['train', '--outdir', str(folder), '--resume'])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert '--resume: ' in err and says in err and str(folder) in err


def test_train_then_resume_with_the_runs_own_config(tmp_path, capsys):
    from explorer.cli import main
    from explorer.training import runs, snapshot
    run = tmp_path / 'run'
    assert main(['train', '--data', 'synthetic', '--outdir', str(run), *TINY_TRAIN]) == 0
    err = capsys.readouterr().err
    assert 'dataset ' in err and 'training 16x16 on cpu for 0.004 kimg' in err and 'ETA' in err
    assert main(['train', '--outdir', str(run), '--resume', '--kimg', '0.008', '--threads', '1']) == 0
    data = snapshot.read_snapshot(runs.latest_snapshot(run))
    assert data['nimg'] == 8 and data['config']['kimg'] == 0.008
    assert (data['config']['z_dim'], data['config']['channel_base'], data['config']['batch']) == (8, 64, 4)


def test_train_finetune_takes_the_checkpoints_resolution(tmp_path, ckpt, capsys):
    from explorer.cli import main
    from explorer.training import runs, snapshot
    rc = main(['train', '--data', 'synthetic', '--outdir', str(tmp_path / 'bad'), '--finetune', str(ckpt),
               '--resolution', '32'])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and '--resolution 32 does not match the checkpoint (16)' in err and len(err.splitlines()) == 1
    flags = [f for f in TINY_TRAIN if f not in ('--resolution', '16')]
    with pytest.warns(UserWarning, match='no discriminator'):
        rc = main(['train', '--data', 'synthetic', '--outdir', str(tmp_path / 'ft'), '--finetune', str(ckpt), *flags])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert 'training 16x16' in err and 'checkpoint has no discriminator' in err
    cfg = snapshot.read_snapshot(runs.latest_snapshot(tmp_path / 'ft'))['config']
    assert cfg['resolution'] == 16 and cfg['extra']['finetune_from'] == str(ckpt)

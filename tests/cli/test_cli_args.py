"""Command-line numbers and output paths are checked before any work starts."""

import pytest
import torch

from explorer import cli


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def ckpt(tmp_path, tiny_G):
    from explorer.engine.checkpoint import save_generator
    return str(save_generator(tiny_G, tmp_path / 'tiny.pt'))


@pytest.mark.parametrize('argv', [
    ['render', '--seeds', '0', '--psi', 'nan'],          # used to render a NaN image, exit 0
    ['render', '--seeds', '0', '--psi', 'inf'],
    ['mix', '--rows', '1', '--cols', '2', '--psi', 'nan'],
    ['metrics', '--psi=-inf'],
    ['render', '--seeds', '0', '--noise-strength', 'nan'],
    ['train', '--outdir', 'RUN', '--seed', '-1'],          # used to be a numpy ValueError traceback
    ['train', '--outdir', 'RUN', '--seed', '99999999999'],
    ['metrics', '--seed', '99999999999'],
    ['render', '--seeds', '0', '--noise-seed', '99999999999'],
    ['train', '--outdir', 'RUN', '--style-mixing', '2'],   # a probability
    ['train', '--outdir', 'RUN', '--ada-target', '-0.5'],
    ['train', '--outdir', 'RUN', '--gamma', 'nan'],
])
def test_non_finite_or_out_of_range_numbers_rejected_by_parser(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'error: argument' in err, err


@pytest.mark.parametrize('cmd', ['mix', 'metrics', 'bench'])
def test_output_file_that_is_a_folder_fails_before_the_work(cmd, tmp_path, ckpt, capsys, monkeypatch):
    """`mix --out DIR`, `metrics --json DIR`, `bench --json DIR` rendered/timed everything, then failed."""
    import explorer.engine.bench as bench_mod
    import explorer.engine.mixing as mixing_mod
    import explorer.training.metrics as metrics_mod

    def boom(*a, **k):
        raise AssertionError('did the work before checking the output path')
    monkeypatch.setattr(mixing_mod, 'render_grid', boom)
    monkeypatch.setattr(metrics_mod, 'swd', boom)
    monkeypatch.setattr(bench_mod, 'run_bench', boom)
    argv = {'mix': ['mix', '--checkpoint', ckpt, '--rows', '1', '--cols', '2', '--out', str(tmp_path)],
            'metrics': ['metrics', '--checkpoint', ckpt, '--num', '2', '--json', str(tmp_path)],
            'bench': ['bench', '--quick', '--checkpoint', ckpt, '--json', str(tmp_path)]}[cmd]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and 'is a folder' in err[-1], err

"""bench smoke test: the CLI runs a CI-sized benchmark and produces numbers (no timing asserts)."""

import json
import math

from explorer.cli import main


def test_bench_quick_cpu_writes_numbers(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    rc = main(['bench', '--config', 'tiny', '--device', 'cpu', '--quick', '--iters', '2', '--impls', 'ref,default,fast',
               '--json', str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert '| ref' in text and '| default' in text and '| fast' in text and 'preview' in text
    data = json.loads(out.read_text())
    assert data['resolution'] == 32 and data['device']
    for name in ('ref', 'default', 'fast'):
        row = data['impls'][name]
        for key in ('batch1_ms_median', 'batch1_ms_p90', 'peak_memory_mb'):
            assert isinstance(row[key], float) and row[key] > 0 and math.isfinite(row[key])
        assert row['throughput']['1'] > 0
    assert data['impls']['ref']['psnr_db'] == 'inf'          # the reference against itself
    assert float(data['impls']['fast']['psnr_db']) > 60      # same math, float rounding only
    assert float(data['impls']['default']['psnr_db']) > 60   # G.synthesis under no_grad: the fast plan
    prev = data['preview']['ms_by_resolution']
    assert set(prev) == {'4', '8', '16', '32'} and all(v > 0 for v in prev.values())


def test_bench_rejects_bad_arguments(capsys):
    assert main(['bench', '--config', 'tiny', '--impls', 'nonsense', '--quick']) == 2
    assert 'not available' in capsys.readouterr().err
    try:
        main(['bench', '--batches', '0'])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError('bad --batches accepted')

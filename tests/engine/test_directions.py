"""Semantic directions: SeFa, GANSpace PCA, labelled directions, edits and direction files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.engine import directions as D
from explorer.engine import networks_stylegan1 as sg1
from explorer.engine import networks_stylegan3 as sg3
from explorer.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def _sefa_reference(G, layers):
    """The SeFa paper's algorithm written out independently: affine weights of the layers in
    ws order (NVIDIA names: every conv's affine, then the last ToRGB's), transposed,
    concatenated, columns normalised, np.linalg.eig of W W^T, sorted by eigenvalue."""
    sd = dict(G.named_parameters())
    names = []
    for res in G.synthesis.block_resolutions:
        if res > 4:
            names.append(f'synthesis.b{res}.conv0.affine.weight')
        names.append(f'synthesis.b{res}.conv1.affine.weight')
    names.append(f'synthesis.b{G.synthesis.block_resolutions[-1]}.torgb.affine.weight')
    W = np.concatenate([sd[names[i]].detach().numpy().T for i in layers], axis=1)
    W = W / np.linalg.norm(W, axis=0, keepdims=True)
    vals, vecs = np.linalg.eig(W.dot(W.T))
    order = np.argsort(vals.real)[::-1]
    return vals.real[order], vecs.real[:, order].T


@pytest.mark.parametrize('layers', [None, (0, 1), (2, 3, 4)])
def test_sefa_matches_independent_eigendecomposition(tiny_G, layers):
    with torch.no_grad():
        for p in tiny_G.parameters():
            p.add_(torch.randn_like(p) * 0.3)   # distinct eigenvalues
    ref_layers = tuple(range(tiny_G.num_ws)) if layers is None else layers
    dset = D.sefa(tiny_G, layers, std_samples=0)
    vals, vecs = _sefa_reference(tiny_G, ref_layers)
    assert dset.layers == ref_layers and dset.method == 'sefa'
    np.testing.assert_allclose(dset.scores, vals[:len(dset)], rtol=1e-5, atol=1e-6)
    k = min(len(dset), 6)
    cos = np.abs(np.sum(dset.directions[:k].astype(np.float64) * vecs[:k], axis=1))
    assert (cos > 0.999).all(), cos
    np.testing.assert_allclose(np.linalg.norm(dset.directions, axis=1), 1.0, atol=1e-5)


def test_sefa_runs_on_every_family():
    torch.manual_seed(0)
    g3 = sg3.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=128,
                       channel_max=16, num_layers=4, mapping_kwargs=dict(num_layers=2)).eval()
    g1 = sg1.Generator(z_dim=16, w_dim=16, img_resolution=16, channels=[16, 16, 8], mapping_layers=2).eval()
    for G in (g3, g1):
        dset = D.sefa(G, num=4, std_samples=64)
        assert dset.directions.shape == (4, G.w_dim)
        assert dset.std.shape == (4,) and (dset.std > 0).all()
        assert len(G.style_affine_weights()) == G.num_ws


def test_pca_orthonormal_and_variance_non_increasing(tiny_G):
    seen = []
    dset = D.pca(tiny_G, num=8, samples=3000, batch=512, progress=lambda d, t, s: seen.append((d, t)))
    d = dset.directions.astype(np.float64)
    np.testing.assert_allclose(d @ d.T, np.eye(8), atol=1e-5)
    assert (np.diff(dset.scores) <= 1e-12).all() and dset.scores[0] > dset.scores[-1]
    assert 0 < dset.scores.sum() <= 1.0 + 1e-9
    assert seen[-1] == (3000, 3000) and len(seen) == 6
    # The first component really carries the largest variance of sampled w.
    w = D.sample_w(tiny_G, 2000, seed=7).double().numpy()
    var = ((w - w.mean(0)) @ d.T).var(0)
    assert var[0] > var[-1] and var[0] == pytest.approx(dset.std[0] ** 2, rel=0.15)


def test_pca_progress_can_cancel(tiny_G):
    from explorer.engine.progress import Cancelled

    def stop(done, total, text):
        if done >= 512:
            raise Cancelled()
    with pytest.raises(Cancelled):
        D.pca(tiny_G, samples=100_000, batch=512, progress=stop)


def test_edit_rule_touches_exactly_the_chosen_layers(tiny_G):
    ws = torch.randn([2, tiny_G.num_ws, tiny_G.w_dim])
    d = np.random.RandomState(0).randn(tiny_G.w_dim).astype(np.float32)
    d /= np.linalg.norm(d)
    out = D.apply_edit(ws, d, 2.5, (1, 3))
    diff = out - ws
    for i in range(tiny_G.num_ws):
        if i in (1, 3):
            torch.testing.assert_close(diff[:, i], 2.5 * torch.from_numpy(d).expand(2, -1))
        else:
            assert torch.equal(diff[:, i], torch.zeros_like(diff[:, i]))
    with pytest.raises(UserError, match='outside'):
        D.apply_edit(ws, d, 1.0, (tiny_G.num_ws,))


def test_direction_file_round_trip_and_compatibility(tiny_G, tmp_path):
    dset = D.sefa(tiny_G, (0, 1, 2), num=5, checkpoint_sha256='ab' * 32, std_samples=128)
    dset = D.DirectionSet(**{**dset.__dict__, 'names': ('yaw', 'smile', 'b', 'c', 'd'),
                             'layer_ranges': ((0, 1), (), (2,), (), ())})
    path = dset.save(tmp_path / 'd.npz')
    with np.load(path, allow_pickle=False) as z:      # DESIGN.md layout, no pickled objects
        assert z['directions'].dtype == np.float32 and z['directions'].shape == (5, tiny_G.w_dim)
        assert list(z['layers']) == [0, 1, 2] and str(z['method']) == 'sefa'
        assert list(z['names'][:2]) == ['yaw', 'smile']
    back = D.DirectionSet.load(path)
    np.testing.assert_array_equal(back.directions, dset.directions)
    assert back.names == dset.names and back.layers == (0, 1, 2) and back.num_ws == tiny_G.num_ws
    assert back.layers_of(0) == (0, 1) and back.layers_of(1) == (0, 1, 2)
    np.testing.assert_allclose(back.std, dset.std)
    assert back.check_compatible(tiny_G, 'ab' * 32) == ''
    assert 'another checkpoint' in back.check_compatible(tiny_G, 'cd' * 32)
    other = D.DirectionSet(directions=np.eye(4, 8, dtype=np.float32), layers=(0,), method='pca',
                           names=tuple('abcd'), num_ws=tiny_G.num_ws)
    with pytest.raises(UserError, match='w_dim 8'):
        other.check_compatible(tiny_G)
    wrong_ws = D.DirectionSet(directions=dset.directions, layers=(0,), method='pca', names=dset.names,
                              num_ws=tiny_G.num_ws + 4)
    with pytest.raises(UserError, match='style layers'):
        wrong_ws.check_compatible(tiny_G)


def test_hostile_direction_files_are_refused(tmp_path):
    bad = tmp_path / 'obj.npz'
    np.savez(bad, directions=np.array([object()], dtype=object))
    with pytest.raises(UserError, match='Python objects'):
        D.DirectionSet.load(bad)
    bomb = tmp_path / 'bomb.npz'      # 1 KB on disk, claims 4 G floats: refused from the header
    np.savez_compressed(bomb, directions=np.zeros([2, 4], np.float32))
    import zipfile
    with zipfile.ZipFile(bomb) as zf:
        raw = zf.read('directions.npy')
    hdr_end = raw.index(b'\n') + 1
    header = raw[:hdr_end].replace(b"(2, 4)", b"(65536, 65536)")
    header = header[:-1].ljust(hdr_end - 1) + b'\n'
    with zipfile.ZipFile(bomb, 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('directions.npy', header + raw[hdr_end:])
    with pytest.raises(UserError, match='larger than allowed'):
        D.DirectionSet.load(bomb)
    nan = tmp_path / 'nan.npz'
    np.savez(nan, directions=np.full([2, 4], np.nan, np.float32))
    with pytest.raises(UserError, match='finite'):
        D.DirectionSet.load(nan)
    junk = tmp_path / 'junk.npz'
    junk.write_bytes(b'PK\x03\x04 not really a zip')
    with pytest.raises(UserError):
        D.DirectionSet.load(junk)
    with pytest.raises(UserError, match='no such'):
        D.DirectionSet.load(tmp_path / 'missing.npz')


def test_fit_direction_recovers_a_planted_attribute():
    rng = np.random.RandomState(0)
    w = rng.randn(600, 16) * np.linspace(0.5, 2.0, 16)
    true = rng.randn(16)
    true /= np.linalg.norm(true)
    score = w @ true
    binary = np.where(score > 0, 1, -1)
    for labels in (binary, score + 0.05 * rng.randn(600)):
        d = D.fit_direction(w, labels)
        assert abs(float(d @ true)) > 0.9 and float(d @ true) > 0   # points toward larger labels
    # Conditional: project out another attribute; the edit then leaves it unchanged.
    other = rng.randn(16)
    other /= np.linalg.norm(other)
    cond = D.fit_direction(w, binary, condition_on=[other])
    assert abs(float(cond @ other)) < 1e-6 and abs(float(cond @ true)) > 0.5
    with pytest.raises(UserError, match='each side'):
        D.fit_direction(w, np.ones(600))


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / 'main.py'), *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_directions_writes_the_design_layout(tmp_path, tiny_G):
    from explorer.engine.checkpoint import save_generator
    ckpt = tmp_path / 'tiny.pt'
    save_generator(tiny_G, ckpt)
    out = tmp_path / 'sefa.npz'
    r = _cli('directions', '--checkpoint', str(ckpt), '--method', 'sefa', '--layers', '0-2', '--num', '4',
             '--out', str(out))
    assert r.returncode == 0, r.stderr
    with np.load(out, allow_pickle=False) as z:
        assert z['directions'].shape == (4, tiny_G.w_dim) and list(z['layers']) == [0, 1, 2]
    ref = D.sefa(tiny_G, (0, 1, 2), num=4, std_samples=0)
    np.testing.assert_allclose(np.abs(np.sum(D.DirectionSet.load(out).directions * ref.directions, 1)), 1, atol=1e-4)
    r = _cli('directions', '--checkpoint', str(ckpt), '--method', 'sefa', '--layers', '0-99', '--out', str(out))
    assert r.returncode == 2 and 'out of range' in r.stderr and 'Traceback' not in r.stderr
    r = _cli('directions', '--checkpoint', str(ckpt), '--method', 'pca', '--out', str(tmp_path / 'x.txt'))
    assert r.returncode == 2 and '.npz' in r.stderr

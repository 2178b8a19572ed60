"""Training: discriminator, losses, the Trainer loop, snapshots, resume, kill safety, CLI."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.engine.discriminator import Discriminator, MinibatchStdLayer
from explorer.training import runs
from explorer.training import snapshot as snap
from explorer.training.dataset import open_dataset
from explorer.training.loop import Trainer, TrainingConfig

ROOT = Path(__file__).resolve().parents[2]
COLOUR = (220, 40, 60)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny convs are much faster single-threaded, above all on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(**kw):
    base = dict(resolution=16, batch=8, kimg=0.064, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256,
                channel_max=32, tick_kimg=1e9, tick_seconds=1e9, snapshot_kimg=1e9, snapshot_minutes=None)
    base.update(kw)
    return TrainingConfig(**base)


@pytest.fixture(scope='module')
def solid_dir(tmp_path_factory):
    """64 solid-colour squares around one colour: trivially learnable."""
    d = tmp_path_factory.mktemp('solid')
    rng = np.random.default_rng(0)
    for i in range(64):
        col = np.clip(np.array(COLOUR) + rng.integers(-10, 10, 3), 0, 255)
        Image.fromarray(np.full((16, 16, 3), col, np.uint8)).save(d / f'{i:03d}.png')
    return d


@pytest.fixture
def solid(solid_dir):
    return open_dataset(solid_dir, resolution=16)


def _run(trainer, **kw):
    return list(trainer.run(**kw))


# ----------------------------------------------------------------------------- networks

def test_discriminator_official_names_and_output():
    D = Discriminator(c_dim=0, img_resolution=32, img_channels=3, channel_base=256, channel_max=32)
    names = set(dict(D.named_parameters())) | set(dict(D.named_buffers()))
    for name in ['b32.fromrgb.weight', 'b32.fromrgb.bias', 'b32.conv0.weight', 'b32.conv1.weight', 'b32.skip.weight',
                 'b32.resample_filter', 'b16.conv0.weight', 'b8.skip.weight', 'b4.conv.weight', 'b4.fc.weight',
                 'b4.out.weight', 'b4.out.bias']:
        assert name in names, name
    assert 'b16.fromrgb.weight' not in names  # resnet: only the first block reads the image
    assert isinstance(D.b4.mbstd, MinibatchStdLayer)
    assert D.b4.out.weight.shape == (1, 32)
    assert D.b4.conv.weight.shape[1] == 32 + 1  # + mbstd channel
    out = D(torch.randn(4, 3, 32, 32), None)
    assert out.shape == (4, 1) and torch.isfinite(out).all()

    Dc = Discriminator(c_dim=5, img_resolution=16, img_channels=1, channel_base=256, channel_max=32,
                       architecture='skip')
    names = set(dict(Dc.named_parameters()))
    assert {'mapping.embed.weight', 'mapping.fc0.weight', 'b8.fromrgb.weight', 'b4.fromrgb.weight'} <= names
    assert Dc.b4.out.weight.shape == (32, 32)  # cmap_dim = channels at 4x4
    assert Dc(torch.randn(2, 1, 16, 16), torch.eye(5)[:2]).shape == (2, 1)
    with pytest.raises(ValueError, match='conditional'):
        Dc(torch.randn(2, 1, 16, 16), None)
    # init_kwargs rebuild the same architecture (the checkpoint loader relies on it)
    again = Discriminator(**Dc.init_kwargs)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in Dc.state_dict().items()}


def test_minibatch_std_definition():
    torch.manual_seed(0)
    x = torch.randn(8, 6, 3, 3)
    y = MinibatchStdLayer(group_size=4, num_channels=2)(x)
    assert y.shape == (8, 8, 3, 3)
    torch.testing.assert_close(y[:, :6], x)
    # Group members are N/G apart: sample n belongs with n + 2, n + 4, n + 6.
    for n in range(8):
        members = x[n % 2::2]                      # [4, 6, 3, 3]
        sd = members.var(dim=0, unbiased=False).add(1e-8).sqrt()
        expected = sd.reshape(2, 3, 3, 3).mean(dim=[1, 2, 3])
        torch.testing.assert_close(y[n, 6:, 0, 0], expected)


# ----------------------------------------------------------------------------- losses

def test_r1_penalty_is_squared_gradient_norm(solid, tmp_path):
    t = Trainer(tiny_config(gamma=4.0), solid, outdir=tmp_path)
    real = torch.randn(8, 3, 16, 16)
    c = torch.zeros(8, 0)
    t.D.requires_grad_(True)
    loss, stats = t.loss.d_r1_loss(real, c, gain=3)
    x = real.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(t.D(x, c).sum(), x)
    expected = g.square().sum(dim=[1, 2, 3]).mean()
    torch.testing.assert_close(stats['r1'], expected)
    torch.testing.assert_close(loss, expected * 4.0 / 2 * 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_fp16_training_steps_resnet_networks_and_resume(solid, tmp_path):
    """Triton kernels under autograd (R1 and path-length double backward), fp16 blocks, resnet
    G and D (whose skip branch is modified in place), snapshot and resume on CUDA."""
    cfg = tiny_config(g_architecture='resnet', architecture='resnet', g_reg_interval=2, d_reg_interval=2)
    t = Trainer(cfg, solid, tmp_path, device='cuda')
    assert t.G.synthesis.b16.use_fp16 and t.D.b16.use_fp16
    stats = [t.train_step() for _ in range(4)]
    assert {'loss_G', 'loss_D', 'r1', 'pl'} <= set().union(*stats)
    for s in stats:
        for k, v in s.items():
            assert torch.isfinite(v).all(), (k, v)
    t.snapshot()
    resumed = Trainer(cfg, solid, tmp_path, device='cuda', resume=True)
    assert resumed.cur_nimg == t.cur_nimg
    assert all(torch.isfinite(v).all() for v in resumed.train_step().values())


def test_losses_finite_and_lazy_reg_settings(solid, tmp_path):
    cfg = tiny_config(kimg=0.064, g_reg_interval=2, d_reg_interval=2, style_mixing_prob=1.0)
    t = Trainer(cfg, solid, tmp_path)
    # Lazy regularisation: lr * mb_ratio, beta ** mb_ratio with mb_ratio = 2 / 3.
    g = t.opt_G.param_groups[0]
    assert g['lr'] == pytest.approx(cfg.g_lr * 2 / 3)
    assert g['betas'][0] == 0 and g['betas'][1] == pytest.approx(0.99 ** (2 / 3))
    stats = [t.train_step() for _ in range(4)]
    seen = set().union(*stats)
    assert {'loss_G', 'loss_D', 'r1', 'pl'} <= seen
    for s in stats:
        for k, v in s.items():
            assert torch.isfinite(v).all(), (k, v)
    assert t.cur_nimg == 32 and t.batch_idx == 4
    assert float(t.loss.pl_mean) > 0
    assert torch.count_nonzero(t.G.mapping.w_avg) > 0  # w_avg is tracked while training


def test_learns_solid_colour(solid, tmp_path):
    """A few hundred images' worth of steps move G_ema's colours onto the data's colour."""
    t = Trainer(tiny_config(kimg=150 * 8 / 1000), solid, tmp_path)
    target = torch.tensor(COLOUR, dtype=torch.float32) / 127.5 - 1
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))

    def stats():
        with torch.no_grad():
            img = t.G_ema(z, None, noise_mode='const')
        colour_err = (img.mean(dim=[0, 2, 3]) - target).abs().mean().item()
        spatial_sd = img.std(dim=[2, 3]).mean().item()  # solid squares have none
        return colour_err, spatial_sd

    err0, sd0 = stats()
    progress = _run(t)
    err1, sd1 = stats()
    assert progress[-1]['done'] and progress[-1]['kimg'] == pytest.approx(1.2)
    assert all(np.isfinite(p['loss_G']) and np.isfinite(p['loss_D']) for p in progress)
    assert err1 < 0.25 * err0, (err0, err1)
    assert sd1 < 0.6 * sd0, (sd0, sd1)


# ----------------------------------------------------------------------------- snapshots, resume

def test_resume_continues_exactly(solid, tmp_path):
    """8 steps + snapshot + resume 8 more == 16 uninterrupted steps (RNG, sampler, Adam restored)."""
    ref = Trainer(tiny_config(kimg=0.128), solid, tmp_path / 'ref')
    _run(ref)
    first = Trainer(tiny_config(kimg=0.064), solid, tmp_path / 'run')
    _run(first)
    path = runs.latest_snapshot(tmp_path / 'run')
    data = snap.read_snapshot(path)
    assert data['kimg'] == pytest.approx(0.064) and data['nimg'] == 64
    resumed = Trainer(tiny_config(kimg=0.128), solid, tmp_path / 'run', resume=True)
    assert resumed.cur_nimg == 64 and resumed.batch_idx == 8
    progress = _run(resumed)
    assert progress[-1]['kimg'] == pytest.approx(0.128)
    for (name, a), b in zip(ref.G_ema.state_dict().items(), resumed.G_ema.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    for a, b in zip(ref.D.parameters(), resumed.D.parameters()):
        torch.testing.assert_close(a, b)


def test_snapshot_format_stop_hook_and_pruning(solid, tmp_path):
    import explorer
    cfg = tiny_config(kimg=10.0, tick_kimg=0.008, snapshot_kimg=0.016, keep_snapshots=2)
    t = Trainer(cfg, solid, tmp_path)
    ticks = 0
    for p in t.run():
        ticks += 1
        assert set(p) >= {'kimg', 'total_kimg', 'images_per_sec', 'eta_s', 'loss_G', 'loss_D', 'r1', 'pl',
                          'augment_p', 'tick'}
        if ticks == 3:
            t.request_stop()
    assert p['stopped'] and p['snapshot'] and ticks == 4
    assert p['kimg'] == pytest.approx(0.024)

    data = torch.load(p['snapshot'], map_location='cpu', weights_only=True)  # plain tensors/containers only
    assert data['format'] == 'stylegan-explorer' and data['version'] == 1
    assert {'G', 'G_ema', 'D', 'opt_G', 'opt_D', 'augment_p', 'kimg', 'config', 'rng'} <= set(data)
    assert data['config']['batch'] == 8
    G = explorer.load_generator(p['snapshot'])
    for k, v in t.g_ema_state().items():
        torch.testing.assert_close(G.state_dict()[k], v)
    # g_ema_state is a copy, not a view of the live weights
    state = t.g_ema_state()
    name = next(iter(dict(t.G_ema.named_parameters())))
    with torch.no_grad():
        dict(t.G_ema.named_parameters())[name].add_(1)
    assert not torch.equal(state[name], t.G_ema.state_dict()[name])

    # snapshot names are kimg-based; keep=2 leaves the newest two files
    t2 = Trainer(tiny_config(keep_snapshots=2), solid, tmp_path / 'prune')
    for k in range(4):  # write snapshots at fake kimg 0..3 without training
        t2.cur_nimg = k * 1000
        t2.snapshot()
    names = [x.name for x in runs.list_snapshots(tmp_path / 'prune')]
    assert names == ['network-snapshot-000002.pt', 'network-snapshot-000003.pt']


def test_pause_hook_yields_without_training(solid, tmp_path):
    t = Trainer(tiny_config(kimg=0.016, tick_kimg=0.008), solid, tmp_path)
    paused = [True, True, False]
    states = []
    gen = t.run(is_paused=lambda: paused.pop(0) if paused else False)
    for p in gen:
        states.append((p['paused'], p['kimg']))
    assert states[0] == (True, 0.0) and states[1] == (True, 0.0)
    assert states[-1][1] == pytest.approx(0.016)


def test_finetune_from_generator_without_discriminator(solid, tmp_path):
    from explorer.engine.checkpoint import save_generator
    from explorer.training.loop import build_generator
    torch.manual_seed(5)
    G = build_generator(tiny_config(), c_dim=0)
    ckpt = save_generator(G, tmp_path / 'g.pt')
    with pytest.warns(UserWarning, match='fresh'):
        t = Trainer(tiny_config(kimg=0.016, channel_base=512), solid, tmp_path / 'ft', finetune_from=ckpt)
    for (name, a), b in zip(G.state_dict().items(), t.G.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    assert t.config.channel_base == 256  # sizes come from the checkpoint
    progress = _run(t)
    assert np.isfinite(progress[-1]['loss_D'])
    # a training snapshot carries a D: finetuning from it uses that D without warning
    snapshot = progress[-1]['snapshot']
    t2 = Trainer(tiny_config(kimg=0.008), solid, tmp_path / 'ft2', finetune_from=snapshot)
    for a, b in zip(t.D.parameters(), t2.D.parameters()):
        torch.testing.assert_close(a, b)


class _RecordingPipe(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer('p', torch.zeros([]))
        self.calls = 0

    def forward(self, images):
        self.calls += 1
        return images.flip(3)


def test_ada_augments_reals_and_fakes_and_adjusts_p(solid, tmp_path, monkeypatch):
    import explorer.training.loop as loop
    monkeypatch.setattr(loop, 'make_augment_pipe', _RecordingPipe)
    # target -1: E[sign(D(real))] is always above it, so p must rise by batch*interval/(ada_kimg*1000) per adjustment
    cfg = tiny_config(augment=True, ada_target=-1.0, ada_interval=2, ada_kimg=1.0, pl_weight=0, gamma=0)
    t = Trainer(cfg, solid, tmp_path)
    t.train_step()
    assert t.augment_pipe.calls == 3  # G main: fakes; D main: fakes and reals
    t.train_step()
    assert t.augment_p == pytest.approx(8 * 2 / 1000)
    for _ in range(2):
        t.train_step()
    assert t.augment_p == pytest.approx(2 * 8 * 2 / 1000)
    path = t.snapshot()
    assert snap.read_snapshot(path)['augment_p'] == pytest.approx(t.augment_p)
    resumed = Trainer(cfg, solid, tmp_path, resume=True)
    assert resumed.augment_p == pytest.approx(t.augment_p)


def test_resume_without_snapshot_is_user_error(solid, tmp_path):
    from explorer.errors import UserError
    with pytest.raises(UserError, match='no snapshot'):
        Trainer(tiny_config(), solid, tmp_path, resume=True)


# ----------------------------------------------------------------------------- processes

_KILL_SCRIPT = textwrap.dedent('''
    import sys, torch
    torch.set_num_threads(1)
    from explorer.training.dataset import open_dataset
    from explorer.training.loop import Trainer, TrainingConfig
    ds = open_dataset(sys.argv[1], resolution=16)
    cfg = TrainingConfig(resolution=16, batch=8, kimg=1000, z_dim=16, w_dim=16, channel_base=256, channel_max=32,
                         tick_kimg=0.008, tick_seconds=1e9, snapshot_kimg=0.008, snapshot_minutes=None,
                         keep_snapshots=2)
    for p in Trainer(cfg, ds, sys.argv[2]).run():
        print('tick', p['kimg'], flush=True)
''')


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    return env


def test_sigkill_during_snapshots_leaves_loadable_snapshot(solid_dir, tmp_path):
    import explorer
    run = tmp_path / 'run'
    proc = subprocess.Popen([sys.executable, '-c', _KILL_SCRIPT, str(solid_dir), str(run)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        # Wait for a first snapshot, then kill as soon as the next write is in flight (temp file present).
        while time.time() < deadline and not runs.list_snapshots(run):
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.01)
        assert runs.list_snapshots(run), 'no snapshot within 60 s'
        kill_deadline = time.time() + 10
        while time.time() < kill_deadline and not list(run.glob(snap.TEMP_GLOB)):
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    snaps = runs.list_snapshots(run)
    assert snaps
    for path in snaps:  # every snapshot that exists under its final name is complete
        data = snap.read_snapshot(path)
        assert data['nimg'] > 0
    explorer.load_generator(snaps[-1])
    # resume cleans up the temp file and continues from the newest snapshot
    ds = open_dataset(solid_dir, resolution=16)
    last_nimg = snap.read_snapshot(snaps[-1])['nimg']
    t = Trainer(tiny_config(kimg=(last_nimg + 8) / 1000), ds, run, resume=True)
    assert t.cur_nimg == last_nimg
    assert not list(run.glob(snap.TEMP_GLOB))
    assert _run(t)[-1]['kimg'] == pytest.approx((last_nimg + 8) / 1000)


def test_cli_ctrl_c_writes_final_snapshot_then_resume(solid_dir, tmp_path):
    from explorer.cli import main
    run = tmp_path / 'run'
    cmd = [sys.executable, str(ROOT / 'main.py'), 'train', '--data', str(solid_dir), '--outdir', str(run),
           '--resolution', '16', '--kimg', '1000', '--batch', '8', '--z-dim', '16', '--w-dim', '16',
           '--channel-base', '256', '--channel-max', '32', '--snapshot-kimg', '1000', '--threads', '1']
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (run / 'config.json').exists():  # training has started
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err.decode()
    assert proc.returncode == 130, err
    assert 'Traceback' not in err
    snaps = runs.list_snapshots(run)
    assert len(snaps) == 1, err
    nimg = snap.read_snapshot(snaps[0])['nimg']
    assert nimg > 0
    rc = main(['train', '--outdir', str(run), '--resume', '--kimg', str((nimg + 16) / 1000), '--threads', '1'])
    assert rc == 0
    assert snap.read_snapshot(runs.latest_snapshot(run))['nimg'] == nimg + 16


def test_conditional_grayscale_training(tmp_path):
    import json
    d = tmp_path / 'data'
    d.mkdir()
    labels = []
    for i in range(8):
        Image.fromarray(np.full((16, 16), 30 * i, np.uint8)).save(d / f'{i}.png')
        labels.append([f'{i}.png', i % 3])
    (d / 'dataset.json').write_text(json.dumps({'labels': labels}))
    ds = open_dataset(d, resolution=16, num_channels=1)
    t = Trainer(tiny_config(batch=4), ds, tmp_path / 'run')
    assert t.c_dim == 3 and t.G.c_dim == 3 and t.D.c_dim == 3 and t.G.img_channels == 1
    assert 'mapping.embed.weight' in dict(t.D.named_parameters())
    for _ in range(2):
        stats = t.train_step()
        assert all(torch.isfinite(v).all() for v in stats.values())
    img = t.G_ema(torch.randn(2, 16), torch.eye(3)[:2])
    assert img.shape == (2, 1, 16, 16)

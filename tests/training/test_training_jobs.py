"""Training-run setup shared by the CLI and the GUI (explorer.training.jobs), without Qt: presets ->
config, inspecting a run folder for resume, the resumed config, finetune checkpoints, a job's
trainer, the preview grid and the tile grid it is made of."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.engine.export import tile_grid
from explorer.errors import ExplorerError, UserError
from explorer.training import jobs
from explorer.training import snapshot as snap
from explorer.training.jobs import (
    CUSTOM_NETWORK,
    DEFAULT_KIMG,
    NETWORK_PRESETS,
    ResumableRun,
    TrainingJob,
    inspect_run,
    preset_for,
    resume_config,
)

TINY_SIZES = (('z_dim', 16), ('w_dim', 16), ('mapping_layers', 1), ('channel_base', 128), ('channel_max', 16),
              ('num_fp16_res', 0), ('pl_weight', 0.0), ('style_mixing_prob', 0.0))


def fake_snapshot(run_dir, nimg, **config):
    """A snapshot file with the fields a run's inspection reads (networks left empty)."""
    cfg = dict(data='synthetic', resolution=32, batch=4, kimg=10.0, augment=False, ada_target=0.6,
               **dict(NETWORK_PRESETS['small']))
    cfg.update(config)
    return snap.write_snapshot(run_dir, {'G': {}, 'G_ema': {}, 'D': {}, 'config': cfg, 'nimg': int(nimg),
                                         'kimg': nimg / 1000, 'progress': {'tick': 3}}, keep=None)


# ----------------------------------------------------------------------------- presets -> config

def test_every_preset_sets_its_sizes_and_has_a_default_length():
    assert set(DEFAULT_KIMG) == set(NETWORK_PRESETS)
    for name, sizes in NETWORK_PRESETS.items():
        cfg = TrainingJob(data='synthetic', outdir='run', network=name).config()
        assert {k: getattr(cfg, k) for k in sizes} == sizes
        assert preset_for(cfg.to_dict()) == name
        cfg.validate()  # every preset trains at the panel's default 64x64
    assert preset_for(dict(NETWORK_PRESETS['small'], z_dim=17)) is None


def test_job_fields_reach_the_config():
    job = TrainingJob(data='/some/folder', outdir='run', resolution=32, batch=6, kimg=12.5, augment=False,
                      ada_target=0.4, ada_kimg=20.0, tick_seconds=2.0, tick_kimg=3.0, snapshot_kimg=7.0,
                      snapshot_minutes=None, network='small', overrides=(('z_dim', 32), ('seed', 5)))
    cfg = job.config()
    assert (cfg.data, cfg.resolution, cfg.batch, cfg.kimg) == ('/some/folder', 32, 6, 12.5)
    assert (cfg.augment, cfg.ada_target, cfg.ada_kimg) == (False, 0.4, 20.0)
    assert (cfg.tick_seconds, cfg.tick_kimg, cfg.snapshot_kimg, cfg.snapshot_minutes) == (2.0, 3.0, 7.0, None)
    assert cfg.z_dim == 32 and cfg.w_dim == NETWORK_PRESETS['small']['w_dim'] and cfg.seed == 5  # overrides win
    assert TrainingJob(data='synthetic', outdir='run', resolution=None).config().resolution == 64  # config default
    with pytest.raises(ExplorerError, match='unknown training setting'):
        TrainingJob(data='synthetic', outdir='run', overrides=(('no_such_field', 1),)).config()


# ----------------------------------------------------------------------------- inspecting a run folder

def test_inspect_run_finds_the_newest_readable_snapshot(tmp_path):
    run = tmp_path / 'run'
    run.mkdir()
    fake_snapshot(run, 2000)
    older = fake_snapshot(run, 4000, z_dim=16)        # sizes of no preset
    (run / 'network-snapshot-000006.pt').write_bytes(b'not a snapshot')
    found = inspect_run(run)
    assert isinstance(found, ResumableRun)
    assert found.snapshot == str(older) and found.kimg == 4.0 and found.total_kimg == 10.0 and not found.finished
    assert len(found.skipped) == 1 and 'network-snapshot-000006.pt' in found.skipped[0]
    assert '4.00 of 10 kimg' in found.describe() and '32×32, batch 4' in found.describe()

    job = found.job()                                   # continues the run, its sizes in the overrides
    assert job.resume and job.outdir == str(run) and job.kimg == 10.0 and job.resolution == 32 and job.batch == 4
    assert job.network == CUSTOM_NETWORK and dict(job.overrides)['z_dim'] == 16
    assert found.job(kimg=20.0).kimg == 20.0
    fake_snapshot(run, 10000)                           # a finished run of a preset's sizes
    done = inspect_run(run)
    assert done.finished and done.job().network == 'small' and done.job().overrides == ()


def test_inspect_run_refuses_what_cannot_be_resumed(tmp_path):
    with pytest.raises(UserError, match='is not a folder'):
        inspect_run(tmp_path / 'missing')
    with pytest.raises(UserError, match='no training snapshot'):
        inspect_run(tmp_path)
    (tmp_path / 'network-snapshot-000004.pt').write_bytes(b'junk')
    with pytest.raises(UserError, match='no readable snapshot.*network-snapshot-000004.pt'):
        inspect_run(tmp_path)


def test_resume_config_is_the_runs_own_with_changes(tmp_path):
    fake_snapshot(tmp_path, 4000, batch=6, seed=9)
    cfg = resume_config(tmp_path, kimg=20.0, data=None, tick_seconds=0.5)
    assert (cfg.batch, cfg.seed, cfg.resolution, cfg.z_dim) == (6, 9, 32, NETWORK_PRESETS['small']['z_dim'])
    assert cfg.kimg == 20.0 and cfg.tick_seconds == 0.5 and cfg.data == 'synthetic'  # None changes nothing
    with pytest.raises(ExplorerError, match='unknown training setting'):
        resume_config(tmp_path, no_such_field=1)
    fake_snapshot(tmp_path, 5000, batch=2.5)            # a hostile config is refused before any work
    with pytest.raises(UserError, match='--batch'):
        resume_config(tmp_path)
    (tmp_path / 'empty-run').mkdir()
    with pytest.raises(UserError, match='no training snapshot'):
        resume_config(tmp_path / 'empty-run', kimg=1.0)


# ----------------------------------------------------------------------------- finetune, trainer

def test_apply_finetune_takes_resolution_and_channels_from_the_checkpoint(tmp_path):
    from explorer.engine.checkpoint import save_generator
    from explorer.engine.networks_stylegan2 import Generator
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=32, img_channels=1,
                  mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    path = save_generator(G, tmp_path / 'gray.pt')
    cfg = TrainingJob(data='synthetic', outdir='run', resolution=None).config()
    record = jobs.apply_finetune(cfg, path)
    assert (cfg.resolution, cfg.num_channels) == (32, 1)
    assert record['G_ema'].img_resolution == 32 and 'G_ema' in record
    with pytest.raises(UserError, match='--resolution 64 does not match the checkpoint \\(32\\)'):
        jobs.apply_finetune(cfg, path, resolution=64)


def test_trainer_for_a_resume_job_trains_the_runs_config(tmp_path, one_thread):
    run = tmp_path / 'run'
    job = TrainingJob(data='synthetic', outdir=str(run), resolution=16, batch=4, kimg=1.0, augment=False,
                      overrides=TINY_SIZES + (('extra', {'synthetic_length': 8}),), tick_seconds=9.0)
    first = jobs.trainer_for_job(job)
    assert (first.config.resolution, first.config.z_dim, first.config.batch) == (16, 16, 4)
    assert len(first.dataset) == 8 and first.outdir == run and run.is_dir()
    first.snapshot()

    resumed = jobs.trainer_for_job(inspect_run(run).job(kimg=2.0, tick_seconds=0.25, tick_kimg=0.5))
    assert resumed.resume_path == first.last_snapshot_path
    assert (resumed.config.z_dim, resumed.config.channel_base, resumed.config.batch) == (16, 128, 4)
    assert resumed.config.kimg == 2.0 and resumed.config.tick_seconds == 0.25 and resumed.config.tick_kimg == 0.5
    assert resumed.config.augment is False  # the run's own, not the job's default


def test_trainer_for_a_job_names_the_missing_dataset(tmp_path):
    with pytest.raises(UserError, match='missing'):
        jobs.trainer_for_job(TrainingJob(data=str(tmp_path / 'missing'), outdir=str(tmp_path / 'run')))
    with pytest.raises(UserError, match='--resolution must be a power of two'):
        jobs.trainer_for_job(TrainingJob(data='synthetic', outdir=str(tmp_path / 'run2'), resolution=48))
    assert not (tmp_path / 'run2').exists()  # refused before the run folder was made


# ----------------------------------------------------------------------------- preview and tile grid

def test_tile_grid_layout():
    frames = np.stack([np.full((2, 3, 3), i + 1, np.uint8) for i in range(3)])
    grid = tile_grid(frames, columns=2)
    assert grid.shape == (4, 6, 3) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 1 and grid[0, 3, 0] == 2 and grid[2, 0, 0] == 3 and grid[2, 3, 0] == 0
    assert tile_grid(frames, columns=8).shape == (2, 9, 3)          # no wider than the frames
    gray = tile_grid([np.full((2, 2, 1), 7, np.uint8)] * 5, columns=4)  # a list; one channel
    assert gray.shape == (4, 8, 1) and gray[2:, 2:].max() == 0 and gray[2:, :2].min() == 7


def test_preview_grid_renders_the_seeds_through_g_ema(tiny_G):
    import threading

    class Run:  # what preview_grid needs of a Trainer
        G_ema = tiny_G
        _ema_lock = threading.Lock()

    grid = jobs.preview_grid(Run(), seeds=(3, 4, 5), columns=2)
    assert grid.shape == (32, 32, 3) and grid.dtype == np.uint8
    assert grid[16:, 16:].max() == 0 and grid[:16, 16:].std() > 0
    from explorer.engine.export import batch_to_uint8
    from explorer.engine.latents import seeds_to_z
    with torch.no_grad():
        one = batch_to_uint8(tiny_G(seeds_to_z([4], tiny_G.z_dim), torch.zeros([1, 0]), noise_mode='const'))[0]
    assert np.array_equal(grid[:16, 16:], one)  # the second seed, top right

"""One process of the 2-rank training test (launched by tests/test_distributed_train.py via torchrun).

    torchrun --standalone --nproc_per_node=2 tests/dist_train_worker.py OUTROOT

Runs two short trainings in one process group, in OUTROOT/equiv and OUTROOT/sync, and
leaves per-rank evidence in OUTROOT/rank{R}.json / rank{R}_sync.pt:
- equiv: a deterministic configuration (no noise inputs, no style mixing, no path-length
  penalty, no augmentation) whose result must equal one process with the whole batch.
- sync: everything random switched on (noise, mixing, PL, ADA with a fast p); every rank
  must end with identical weights, w_avg, pl_mean and augment p.
"""

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GLOBAL_BATCH = 8
STEPS = 3


def _base(**kw):
    from explorer.training.loop import TrainingConfig
    cfg = TrainingConfig(data='synthetic', resolution=16, batch=GLOBAL_BATCH, z_dim=32, w_dim=32, mapping_layers=2,
                         channel_base=256, channel_max=32, num_fp16_res=0, mbstd_group=4, seed=7,
                         snapshot_kimg=1000.0, snapshot_minutes=None, tick_kimg=GLOBAL_BATCH / 1000, tick_seconds=1e9,
                         keep_snapshots=5, extra={'synthetic_length': 24})
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def equiv_config(batch=GLOBAL_BATCH):
    """Deterministic apart from the data and latent streams (which are sharded, not re-drawn)."""
    return _base(batch=batch, kimg=STEPS * batch / 1000, style_mixing_prob=0.0, pl_weight=0.0, augment=False,
                 d_reg_interval=2, ema_kimg=0.01, ema_rampup=None)


def sync_config():
    return _base(kimg=(STEPS + 1) * GLOBAL_BATCH / 1000, style_mixing_prob=0.9, pl_weight=2.0, g_reg_interval=2,
                 d_reg_interval=2, augment=True, augment_p=0.0, ada_target=-1.0, ada_interval=3, ada_kimg=0.1)


def dataset_for(cfg):
    from explorer.training.dataset import open_dataset
    return open_dataset(cfg.data, resolution=cfg.resolution, num_channels=cfg.num_channels, use_labels=False,
                        seed=cfg.seed, length=cfg.extra['synthetic_length'])


def make_trainer(cfg, outdir, **kw):
    """A Trainer with noise inputs scaled to zero when the config is the deterministic one."""
    from explorer.training.loop import Trainer
    trainer = Trainer(cfg, dataset_for(cfg), outdir, device='cpu', **kw)
    if cfg.style_mixing_prob == 0:  # equiv_config: noise inputs off (their draws are per rank)
        trainer.loss.synthesis_kwargs['noise_scale'] = 0.0
    return trainer


def main(outroot):
    torch.set_num_threads(1)
    from explorer.training import distributed, runlog
    from explorer.training import snapshot as snap
    ctx = distributed.init_distributed(device='cpu', timeout_s=120)
    assert ctx.world_size == 2 and ctx.backend == 'gloo', ctx
    calls = {'write_snapshot': 0, 'append_stats': 0}

    def counting(name, fn):
        def wrapper(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapper
    snap.write_snapshot = counting('write_snapshot', snap.write_snapshot)
    runlog.append_stats = counting('append_stats', runlog.append_stats)

    outroot = Path(outroot)
    for trainer in (make_trainer(equiv_config(), outroot / 'equiv'), make_trainer(sync_config(), outroot / 'sync')):
        ticks = sum(1 for _ in trainer.run())
    state = {'G_ema': trainer.g_ema_state(), 'G': {k: v.clone() for k, v in trainer.G.state_dict().items()},
             'D': {k: v.clone() for k, v in trainer.D.state_dict().items()},
             'pl_mean': trainer.loss.pl_mean.clone(), 'ada_signs': trainer._ada_signs.clone()}
    torch.save(state, outroot / f'rank{ctx.rank}_sync.pt')
    (outroot / f'rank{ctx.rank}.json').write_text(json.dumps(
        dict(calls, rank=ctx.rank, world_size=trainer.world_size, batch_gpu=trainer.batch_gpu,
             augment_p=trainer.augment_p, nimg=trainer.cur_nimg, ticks=ticks)))
    distributed.shutdown()


if __name__ == '__main__':
    main(sys.argv[1])

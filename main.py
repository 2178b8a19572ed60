"""StyleGAN Explorer entry point: no arguments -> GUI; subcommands -> headless CLI."""

import os
import sys

# Before anything imports torch: PyTorch's CPU allocator backs large tensors with transparent
# huge pages (2 MiB) when this is 1, read once at torch's import. A config-f 1024 render then
# takes ~2.7x fewer page faults and `render --seeds 0-4` ran ~4% faster (256 px: no change
# beyond noise); see docs/architecture.md. A value the user set is kept (0 turns it off).
os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')

from explorer.cli import main  # noqa: E402 - after the environment above

if __name__ == '__main__':
    sys.exit(main())

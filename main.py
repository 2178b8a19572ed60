"""StyleGAN Explorer entry point: no arguments -> GUI; subcommands -> headless CLI."""

import sys

from explorer.cli import main

if __name__ == '__main__':
    sys.exit(main())

"""`python -m slavik_tui` — the same as the `slavik-tui` command."""

import sys

from slavik_tui.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m slavik_tui.charts MODEL_DIR RUN_ID`: autosave an ended run's chart and CSV."""

import sys

from slavik_tui.charts.autosave import main

sys.exit(main())

import sys

from tinker_tui.cli import main

sys.exit(main())

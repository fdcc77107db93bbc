"""``python -m so101``: the same as the ``so101`` console script."""

import sys

from so101.cli import main

sys.exit(main())

"""``python -m nerv.hook``: the same as the ``nerv-hook`` console script."""

import sys

from nerv.hook.run import main

sys.exit(main())

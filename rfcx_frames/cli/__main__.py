"""``python -m rfcx_frames.cli``: the ``rfcx-frames`` command without the console script."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())

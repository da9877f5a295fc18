"""``python -m darkroom``: the same CLI as the ``darkroom`` command."""

import sys

from darkroom.cli import main

sys.exit(main())

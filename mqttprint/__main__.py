"""`python -m mqttprint`: the same as the `mqttprint` console script."""

import sys

from mqttprint.cli import main

sys.exit(main())

import sys

from mpcstats.cli import main

sys.exit(main())

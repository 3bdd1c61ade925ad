import sys

from avatar_plugin.cli import main

sys.exit(main())

from avatar_plugin.cli import main
import sys

sys.exit(main())

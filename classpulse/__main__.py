import sys

from classpulse.cli import main

sys.exit(main())

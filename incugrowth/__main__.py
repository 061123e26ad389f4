import sys

from incugrowth.cli import main

sys.exit(main())

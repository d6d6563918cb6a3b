import sys

from clients.verify.cli import main

sys.exit(main())

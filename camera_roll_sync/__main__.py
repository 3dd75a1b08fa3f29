import sys

from camera_roll_sync.cli import main

sys.exit(main())

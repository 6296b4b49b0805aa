"""The bundled application's entry point: ``NDE Studio`` starts the window, and takes the
same subcommands as ``ndestudio`` (``NDE Studio gui --smoke``, ``NDE Studio train …``)."""

import multiprocessing
import sys

from ndestudio.__main__ import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # (sweeps and --nproc start processes of the bundle)
    sys.exit(main())

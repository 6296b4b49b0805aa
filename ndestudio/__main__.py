"""``python -m ndestudio`` / ``ndestudio``."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from ndestudio.cli import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(cli_main())


if __name__ == "__main__":
    main()

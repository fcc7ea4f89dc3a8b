"""``python -m xcore``: the ``xcore`` command, for environments whose scripts folder is not on PATH."""

from xcore._cli import main

if __name__ == "__main__":
    main()

"""An alias: the bench is the ``benchmarks`` package (``python -m benchmarks``)."""

from benchmarks.__main__ import main

if __name__ == "__main__":
    main()

"""A separate process that saves a pickled StudyResult, for the kill and race tests (tests/test_save_faults.py).

    python tests/save_child.py RESULT.pickle OUT_DIR forever   # saves back to back until killed
    python tests/save_child.py RESULT.pickle OUT_DIR 10        # saves 10 times; exit 1 on any exception

SIGTERM is handled as the CLI handles it (``toolkit.cli._on_sigterm_stop``): the save in progress is rolled
back and the process exits with 143.
"""

import pickle
import sys

# imported before "started": the kills are meant for the save, not for imports
import toolkit.outputs.report
import toolkit.outputs.styles  # noqa: F401
from toolkit import cli
from toolkit.outputs.writers import write_outputs


def main() -> int:
    path, out, mode = sys.argv[1:4]
    with open(path, "rb") as f:
        result = pickle.load(f)
    cli._on_sigterm_stop()
    try:
        if mode == "forever":
            print("started", flush=True)
            while True:
                write_outputs(result, out, write_map=False)
        for _ in range(int(mode)):
            write_outputs(result, out, write_map=False)
    except cli.Terminated:
        return 143
    except BaseException as exc:  # the race test fails on any of these
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The bundled application's entry point: ``NDE Studio`` starts the window, and takes the
same subcommands as ``ndestudio`` (``NDE Studio gui --smoke``, ``NDE Studio train …``).

In the bundle ``sys.executable`` is this program, not a Python interpreter, yet NDE Studio
starts itself as one: the export check runs ``sys.executable -I -c CODE`` (a process that
imports no NDE Studio), sweeps and ``--nproc`` run ``sys.executable -m ndestudio …``. Those
forms are served here, before anything of NDE Studio is imported.
"""

import multiprocessing
import runpy
import sys

INTERPRETER_FLAGS = {"-I", "-E", "-s", "-S", "-B", "-u"}  # (no meaning in a bundle)


def run_as_interpreter(argv: list[str]) -> bool:
    """Serve ``-c CODE [ARG…]`` and ``-m MODULE [ARG…]``; False for anything else."""
    args = list(argv)
    while args and args[0] in INTERPRETER_FLAGS:
        args.pop(0)
    if len(args) >= 2 and args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        return True
    if len(args) >= 2 and args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return True
    return False


if __name__ == "__main__":
    multiprocessing.freeze_support()  # (a child process of multiprocessing: it returns not)
    if not run_as_interpreter(sys.argv[1:]):
        from ndestudio.__main__ import main

        sys.exit(main())

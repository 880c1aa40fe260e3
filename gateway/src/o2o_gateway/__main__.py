import sys

from o2o_runtime.cli import main

sys.exit(main(["gateway", *sys.argv[1:]]))

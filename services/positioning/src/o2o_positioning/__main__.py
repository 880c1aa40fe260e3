from o2o_runtime.server import run

from o2o_positioning.main import SERVICE

run(SERVICE)

from o2o_runtime.server import run

from o2o_loyalty.main import SERVICE

run(SERVICE)

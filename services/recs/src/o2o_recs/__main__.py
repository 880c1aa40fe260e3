from o2o_runtime.server import run

from o2o_recs.main import SERVICE

run(SERVICE)

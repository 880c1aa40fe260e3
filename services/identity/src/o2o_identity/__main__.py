from o2o_runtime.server import run

from o2o_identity.main import SERVICE

run(SERVICE)

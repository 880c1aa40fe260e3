from o2o_runtime.server import run

from o2o_receipts.main import SERVICE

run(SERVICE)

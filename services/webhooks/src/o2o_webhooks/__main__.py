from o2o_runtime.server import run

from o2o_webhooks.main import SERVICE

run(SERVICE)

pytest_plugins = ["tests.fixtures.apps", "tests.fixtures.redis", "tests.fixtures.servers"]

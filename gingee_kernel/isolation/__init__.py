"""Isolated apps: an app (or a group of apps) runs in a worker process of its own (gingee.json or
app.json `isolation`); docs/security.md says what that guarantees.

    settings.py         gingee.json `isolation`: which apps, groups, user, limits
    channel.py          the framed, multiplexed, flow-controlled local socket between master and worker
    process.py          one worker process: started lazily, limited, watched (RSS), killed, restarted
    host.py             in the master: the workers, and the relay of requests and jobs to them
    calls.py            in the master: a worker's calls back to cache, queue and websockets, checked
    scripts.py          in the master: an isolated app's scripts, never imported there
    sockets_master.py   in the master: an isolated app's websockets (the socket stays here)
    worker.py           the worker: loads its apps, answers requests, runs jobs
    remote.py           in the worker: cache, queue and websockets, called back to the master
    sockets_worker.py   in the worker: the websocket auth hook, handler and the socket it is given
    __main__.py         `python -m gingee_kernel.isolation`: the worker process's entry point
"""

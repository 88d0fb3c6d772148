"""The websocket runtime behind `gingee_kernel.websockets`: hub, sockets, upgrade checks and fan-out.

Hosts use `upgrade.admit` and `session.Session` (or, on Tornado, `tornado_host.GingeeSocketMixin`);
scripts use the `websockets` module and the `Socket` their handler receives.
"""

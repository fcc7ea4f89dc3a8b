"""The parts of an XCore host, behind the :class:`xcore.host.Xcore` facade (private: import ``xcore``).

Each module has one job and is read without the others:

* :mod:`.registry` -- discovery, the enable rules, pluggy registration, the plugin records, service types;
* :mod:`.lifecycle` -- the one place that decides how a plugin is loaded and unloaded (order,
  migrations gate, ``on_load`` timeout and watchdog, router, actions; unload in reverse);
* :mod:`.dispatch` -- the action table behind ``Xcore.call``;
* :mod:`.monitor` -- health reports, the periodic monitor and the kernel events it announces.

See docs/architecture.md for a drawing of the parts and of a boot, a request, an action call and a shutdown.
"""

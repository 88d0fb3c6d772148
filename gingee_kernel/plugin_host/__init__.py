"""Community plugins: app modules published as Python distributions (docs/plugins.md).

- `api`: what a plugin author writes against: `Module` and the per-app `PluginContext`.
- `discovery`: installed distributions and their `gingee.modules` entry points, from metadata only.
- `policy`: gingee.json `plugins.allow`: allow-list, version ranges, the RECORD hash pin.
- `loader`: an app's `plugins` section checked, imported, configured and bound to the app.
- `cli`: `gingee plugins list | check | new`.

Scripts reach a plugin through `gingee_kernel.plugins` (`plugins.geoip.lookup(...)`), behind the grant
`plugin:<permission>`.
"""
